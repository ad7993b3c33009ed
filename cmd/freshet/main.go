// Command freshet runs and manages Freshet stream processing jobs.
package main

import (
	"os"

	"golang.org/x/term"

	"github.com/freshet/freshet/engine/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{
		In:          os.Stdin,
		Out:         os.Stdout,
		Err:         os.Stderr,
		Interactive: term.IsTerminal(int(os.Stdout.Fd())),
	}))
}
