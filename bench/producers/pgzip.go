// The bench's pgzip producer: klauspost's pgzip as containers/image (podman, buildah, skopeo)
// compresses a layer, pgzip.NewWriter at its defaults, reading stdin to stdout.
package main

import (
	"io"
	"os"

	"github.com/klauspost/pgzip"
)

func main() {
	w := pgzip.NewWriter(os.Stdout)
	if _, err := io.Copy(w, os.Stdin); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
}
