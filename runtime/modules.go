package runtime

// Module families that live in sub-packages of modules register themselves
// in modules' registry from their init; importing them here makes them
// built-in wherever the engine is used (the CLI, swarmrun doc, tests).
import _ "github.com/swarmrun/swarmrun/modules/stack"
