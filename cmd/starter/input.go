package main

import (
	"io"
	"os"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// openInput opens the file a flag names, "-" being stdin. On failure it
// returns the problem naming the flag and the path; otherwise the caller
// closes what it got (closing stdin is a no-op).
func openInput(flag, path string, stdin io.Reader) (io.ReadCloser, []clb.Problem) {
	if path == "-" {
		return io.NopCloser(stdin), nil
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, []clb.Problem{{Field: flag, Value: path, Reason: "cannot be read: " + err.Error()}}
	}
	return file, nil
}
