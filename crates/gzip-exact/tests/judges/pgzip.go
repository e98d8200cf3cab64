// The judge for kpflate's pgzip: klauspost's pgzip (Debian's golang-github-klauspost-pgzip-dev)
// as containers/image runs it, at the level given (-1: its default), stdin to stdout.
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
	if _, err := io.Copy(w, os.Stdin); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
}
