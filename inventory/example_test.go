package inventory_test

import (
	"fmt"
	"log"

	"github.com/swarmrun/swarmrun/inventory"
)

func Example() {
	inv, err := inventory.Load("../testdata/inventory/basic.ini")
	if err != nil {
		log.Fatal(err)
	}
	extra, err := inventory.ParseExtraVars([]string{"ansible_user=root"})
	if err != nil {
		log.Fatal(err)
	}
	inv.SetExtraVars(extra)

	managers, err := inv.Match("managers:!workers")
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range managers {
		fmt.Println(h.Name, h.Vars["ansible_host"], h.Vars["ansible_user"], h.Groups)
	}
	// Output:
	// manager-1 192.168.56.11 root [all managers swarm]
	// manager-2 192.168.56.12 root [all managers swarm]
}
