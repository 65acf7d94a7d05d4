// Command runc-wrapper is an OCI runtime for dockerd on hosts whose capability
// bounding set is smaller than the full set (e.g. a VM without CAP_SYS_RESOURCE).
//
// Docker grants a --privileged container every capability it knows, and runc then
// fails with "unable to apply caps: operation not permitted" because a process cannot
// raise a capability outside its own bounding set. kind runs its nodes privileged, so
// on such hosts no kind cluster can start. This wrapper removes, from the container's
// OCI config.json (create, run) and from the --process JSON (exec), every capability
// that is not in the wrapper's own bounding set, then execs the real runc with the
// same arguments. Containers that ask for nothing beyond the bounding set are left
// byte-for-byte untouched.
//
// Register it with: dockerd --add-runtime wsgate-runc=/path/to/runc-wrapper
// --default-runtime wsgate-runc. The real runc is WSGATE_REAL_RUNC or /usr/sbin/runc.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames maps capability numbers to the names the OCI spec uses (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func main() {
	real := os.Getenv("WSGATE_REAL_RUNC")
	if real == "" {
		real = "/usr/sbin/runc"
	}
	if err := filter(os.Args[1:]); err != nil {
		// Leave the decision to runc: it reports the real error in its own log format.
		fmt.Fprintf(os.Stderr, "runc-wrapper: %v\n", err)
	}
	args := append([]string{real}, os.Args[1:]...)
	if err := syscall.Exec(real, args, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: exec %s: %v\n", real, err)
		os.Exit(127)
	}
}

// filter rewrites the JSON file the runc command line names, if any.
func filter(args []string) error {
	cmd, rest := subcommand(args)
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		return rewrite(filepath.Join(bundle, "config.json"), func(doc map[string]any) bool {
			process, _ := doc["process"].(map[string]any)
			return process != nil && trim(process)
		})
	case "exec":
		path := flagValue(rest, "process", "p")
		if path == "" {
			return nil
		}
		return rewrite(path, trim)
	}
	return nil
}

// subcommand skips runc's global flags (each takes a value, except the booleans
// listed) and returns the command and its arguments.
func subcommand(args []string) (string, []string) {
	booleans := map[string]bool{"--debug": true, "--systemd-cgroup": true, "--help": true, "-h": true, "--version": true, "-v": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if !strings.Contains(a, "=") && !booleans[a] {
			i++ // the flag's value
		}
	}
	return "", nil
}

// flagValue returns the value of --long or -short in args (either "--x v" or "--x=v").
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		for _, name := range []string{"--" + long, "-" + long, "-" + short} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, name+"=") {
				return strings.TrimPrefix(a, name+"=")
			}
		}
	}
	return ""
}

// rewrite loads a JSON document, lets edit change it, and writes it back if it did.
func rewrite(path string, edit func(map[string]any) bool) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !edit(doc) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

// trim removes from every capability set of an OCI process the capabilities outside
// this process's bounding set; it reports whether anything was removed.
func trim(process map[string]any) bool {
	caps, _ := process["capabilities"].(map[string]any)
	if caps == nil {
		return false
	}
	allowed, err := boundingSet()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: %v\n", err)
		return false
	}
	changed := false
	for set, value := range caps {
		list, _ := value.([]any)
		kept := make([]any, 0, len(list))
		for _, c := range list {
			name, _ := c.(string)
			if known, ok := allowed[name]; ok && !known {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	return changed
}

// boundingSet reads CapBnd from /proc/self/status: name → whether it is in the set.
// Names this wrapper does not know are absent from the map and always kept.
func boundingSet() (map[string]bool, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("CapBnd: %w", err)
		}
		set := make(map[string]bool, len(capNames))
		for bit, name := range capNames {
			set[name] = mask&(1<<uint(bit)) != 0
		}
		return set, nil
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}
