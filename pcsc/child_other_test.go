//go:build !linux

package pcsc

import "fmt"

// runChild: private pcscd instances are a Linux test device only.
func runChild(mode string) int {
	fmt.Println("child mode", mode, "needs Linux")
	return 2
}
