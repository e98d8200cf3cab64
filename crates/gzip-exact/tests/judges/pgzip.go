// The judge for kpflate's pgzip: klauspost's pgzip as containers/image runs it, at the level
// given (-1: its default), stdin to stdout; with a second argument, in blocks of that many
// bytes (umoci sets 256 KiB). Built against whichever klauspost/compress its GOPATH holds.
package main

import (
	"io"
	"os"
	"strconv"

	"github.com/klauspost/pgzip"
)

func main() {
	level, err := strconv.Atoi(os.Args[1])
	if err != nil {
		panic(err)
	}
	w, err := pgzip.NewWriterLevel(os.Stdout, level)
	if err != nil {
		panic(err)
	}
	if len(os.Args) > 2 {
		block, err := strconv.Atoi(os.Args[2])
		if err != nil {
			panic(err)
		}
		if err := w.SetConcurrency(block, 4); err != nil {
			panic(err)
		}
	}
	if _, err := io.Copy(w, os.Stdin); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
}
