// CoreDNS for the real node (e2e/node/): the pods' cluster DNS, answering Service and pod names
// from the API server with the kubernetes plugin, as kubeadm's CoreDNS does. Upstream's main
// (coredns.go) links every plugin, cloud providers' included; this one links only the plugins the
// node's Corefile uses, so the build needs none of their SDKs. No forward plugin: a name outside
// the cluster gets no answer from outside the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

func init() {
	// The plugins' order in a server block, as upstream's plugin.cfg orders them.
	dnsserver.Directives = []string{"bind", "errors", "log", "kubernetes"}
}

func main() {
	coremain.Run()
}
