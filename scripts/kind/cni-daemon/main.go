// Command cni-daemon does kindnetd's job in an offline kind cluster (kindnetd is not
// published where this project can build it from source): on every node it writes the
// CNI configuration for the node's podCIDR (ptp + host-local + portmap) and keeps a
// route to every other node's podCIDR through that node's InternalIP, so Pods on
// different nodes reach each other.
//
// It polls the API server instead of watching: a test cluster has a handful of nodes,
// and a poll every few seconds needs no client library. It runs as a hostNetwork
// DaemonSet with NET_ADMIN (scripts/e2e-provision.sh writes its manifest).
//
// Environment: NODE_NAME (the downward API's spec.nodeName), KUBERNETES_SERVICE_HOST
// and KUBERNETES_SERVICE_PORT (set by kubelet), CNI_CONFIG (default
// /etc/cni/net.d/10-kindnet.conflist).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
)

const serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR string `json:"podCIDR"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	} `json:"items"`
}

func main() {
	self := os.Getenv("NODE_NAME")
	if self == "" {
		log.Fatal("NODE_NAME is not set")
	}
	configPath := os.Getenv("CNI_CONFIG")
	if configPath == "" {
		configPath = "/etc/cni/net.d/10-kindnet.conflist"
	}
	client, err := apiClient()
	if err != nil {
		log.Fatal(err)
	}
	url := fmt.Sprintf("https://%s/api/v1/nodes",
		net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")))
	for {
		if err := sync(client, url, self, configPath); err != nil {
			log.Printf("sync: %v", err)
		}
		time.Sleep(5 * time.Second)
	}
}

// apiClient returns an HTTP client that trusts the cluster CA and sends the
// ServiceAccount token (re-read on every request: kubelet rotates it).
func apiClient() (*http.Client, error) {
	ca, err := os.ReadFile(filepath.Join(serviceAccount, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s/ca.crt", serviceAccount)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return &http.Client{Timeout: 10 * time.Second, Transport: tokenTransport{transport}}, nil
}

type tokenTransport struct{ next http.RoundTripper }

func (t tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := os.ReadFile(filepath.Join(serviceAccount, "token"))
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	return t.next.RoundTrip(req)
}

func sync(client *http.Client, url, self, configPath string) error {
	res, err := client.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	var nodes nodeList
	if err := json.NewDecoder(res.Body).Decode(&nodes); err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Metadata.Name == self {
			if err := writeConfig(configPath, n.Spec.PodCIDR); err != nil {
				return err
			}
			continue
		}
		var gateway net.IP
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" {
				if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
					gateway = ip
				}
			}
		}
		_, dst, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil || gateway == nil {
			continue
		}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: gateway}); err != nil {
			return fmt.Errorf("route %s via %s: %w", dst, gateway, err)
		}
	}
	return nil
}

// writeConfig writes the node's CNI configuration if it differs, atomically: the
// container runtime may read it at any moment.
func writeConfig(path, podCIDR string) error {
	config := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "kindnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	want, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o644); err != nil {
		return err
	}
	log.Printf("writing %s for podCIDR %s", path, podCIDR)
	return os.Rename(tmp, path)
}
