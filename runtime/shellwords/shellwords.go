// Package shellwords splits a command line into words the way a shell
// quotes them, expanding nothing. One scanner serves the dialects the
// project meets: /bin/sh (the command module), Python's shlex (Ansible's
// ini host lines) and a forgiving one for ssh arguments and iptables-save
// rules, which must never fail.
package shellwords

import (
	"errors"
	"strings"
)

// Dialect says how one kind of command line quotes.
type Dialect struct {
	Blanks       string // characters that separate words
	DQEscapes    string // what a backslash escapes inside "..."
	Continuation bool   // backslash-newline vanishes (sh); else it is a newline
	Comments     bool   // an unquoted '#' ends the input, even mid-word (shlex)
	Forgiving    bool   // an open quote or trailing backslash is no error

	// The errors for an open single quote, open double quote and a
	// trailing backslash; each dialect keeps its own wording.
	ErrSingle, ErrDouble, ErrEscape error
}

var (
	// Sh is POSIX sh: '...' is literal, "..." is literal but for a
	// backslash before \ " $ ` and newline.
	Sh = Dialect{Blanks: " \t\n", DQEscapes: "\\\"$`\n", Continuation: true,
		ErrSingle: errors.New("unterminated single quote"), ErrDouble: errors.New("unterminated double quote"),
		ErrEscape: errors.New("trailing backslash")}
	// Shlex is Python's shlex.split(s, comments=True) in POSIX mode for one
	// line, with its error wording.
	Shlex = Dialect{Blanks: " \t\r\n", DQEscapes: "\\\"", Comments: true,
		ErrSingle: errors.New("no closing quotation"), ErrDouble: errors.New("no closing quotation"),
		ErrEscape: errors.New("no escaped character")}
	// forgiving reads what it can: an open quote runs to the end, a
	// trailing backslash is kept.
	forgiving = Dialect{Blanks: " \t\n", DQEscapes: "\\\"$`", Forgiving: true}
)

// Fields splits s like sh quotes but never fails: for values that come
// from elsewhere and are passed on as they are (ssh arguments,
// iptables-save rules), where an open quote runs to the end and a trailing
// backslash is kept. A backslash-newline is a newline.
func Fields(s string) []string {
	words, _ := forgiving.Split(s)
	return words
}

// Split returns the words of s. A quoted empty string is a word; nothing
// but blanks is no word.
func (d Dialect) Split(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(d.Blanks, c) >= 0:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case c == '#' && d.Comments:
			if inWord {
				words = append(words, cur.String())
			}
			return words, nil
		case c == '\\':
			if i+1 >= len(s) {
				if !d.Forgiving {
					return nil, d.ErrEscape
				}
				cur.WriteByte(c)
				break
			}
			i++
			if s[i] != '\n' || !d.Continuation {
				cur.WriteByte(s[i])
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 && !d.Forgiving {
				return nil, d.ErrSingle
			} else if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			var err error
			if i, err = d.doubleQuoted(s, i+1, &cur); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// doubleQuoted copies the inside of "..." from s[i:] to cur and returns
// the index of the closing quote.
func (d Dialect) doubleQuoted(s string, i int, cur *strings.Builder) (int, error) {
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i, nil
		case c == '\\' && i+1 < len(s) && strings.IndexByte(d.DQEscapes, s[i+1]) >= 0:
			i++
			if s[i] != '\n' || !d.Continuation {
				cur.WriteByte(s[i])
			}
		default:
			cur.WriteByte(c)
		}
	}
	if !d.Forgiving {
		return i, d.ErrDouble
	}
	return i, nil
}
