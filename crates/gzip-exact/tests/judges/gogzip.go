// The judge for goflate: Go's own compress/gzip at the level given, reading stdin to stdout
// through io.Copy as BuildKit and containerd feed it.
package main

import (
	"compress/gzip"
	"io"
	"os"
	"strconv"
)

func main() {
	level, err := strconv.Atoi(os.Args[1])
	if err != nil {
		panic(err)
	}
	w, err := gzip.NewWriterLevel(os.Stdout, level)
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
