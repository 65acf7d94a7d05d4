module wsgate.local/cni-daemon

go 1.22

require github.com/vishvananda/netlink v1.3.0

require (
	github.com/vishvananda/netns v0.0.4 // indirect
	golang.org/x/sys v0.10.0 // indirect
)
