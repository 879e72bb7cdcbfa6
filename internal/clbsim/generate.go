package clbsim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// GenerateSpec sizes a generated fleet.
type GenerateSpec struct {
	// LoadBalancers is the number of load balancers (lbs=).
	LoadBalancers int
	// Listeners is the number of listeners of each load balancer
	// (listeners=).
	Listeners int
	// Layer7 is how many of each load balancer's listeners are layer-7
	// (HTTP, HTTPS) rather than layer-4 (TCP, UDP) (l7=).
	Layer7 int
	// Rules is the number of rules of each layer-7 listener (rules=).
	Rules int
	// Targets is the number of targets bound to each layer-4 listener and
	// to each rule (targets=). A load balancer's listeners and rules share
	// one pool of that many servers, each on its own backend port.
	Targets int
	// ENI is the share, 0-1, of servers bound by ENI address rather than as
	// CVM instances (eni=).
	ENI float64
	// RST is the share, 0-1, of TCP listeners whose DeregisterTargetRst is
	// on (rst=): 0 none, 1 all, in between drawn from the seed.
	RST float64
	// IdleConnectTimeout is the IdleConnectTimeout of every TCP listener,
	// 300-1980 seconds (idle=); 0 means the API's default, 900.
	IdleConnectTimeout int64
}

// DefaultGenerateSpec is the fleet of an emulator started without a state:
// one load balancer with a TCP listener and an HTTP listener of two rules,
// 20 servers each.
var DefaultGenerateSpec = GenerateSpec{LoadBalancers: 1, Listeners: 2, Layer7: 1, Rules: 2, Targets: 20}

// Bounds of a generated fleet, to keep a typo from eating the machine.
const (
	maxGenerated         = 1000
	maxGeneratedTargets  = 10000
	maxGeneratedBindings = 2_000_000
	// Each listener and rule of a load balancer binds its targets on its
	// own backend port, from firstBackendPort on.
	firstBackendPort = 10000
	maxPlaces        = maxPort - firstBackendPort
)

// ParseGenerateSpec reads "lbs=2,listeners=2,l7=1,rules=2,targets=60,eni=0.1,rst=0.5,idle=300".
// Keys left out keep DefaultGenerateSpec's value (l7 at most listeners).
func ParseGenerateSpec(spec string) (GenerateSpec, error) {
	g := DefaultGenerateSpec
	l7Given := false
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return GenerateSpec{}, fmt.Errorf("clbsim: generate spec %q: want key=value", part)
		}
		if k == "eni" || k == "rst" {
			p, err := parseProbability(v)
			if err != nil {
				return GenerateSpec{}, fmt.Errorf("clbsim: generate spec %s: %w", k, err)
			}
			if k == "eni" {
				g.ENI = p
			} else {
				g.RST = p
			}
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return GenerateSpec{}, fmt.Errorf("clbsim: generate spec %s: %q is not a whole number", k, v)
		}
		switch k {
		case "lbs":
			g.LoadBalancers = n
		case "listeners":
			g.Listeners = n
		case "l7":
			g.Layer7, l7Given = n, true
		case "rules":
			g.Rules = n
		case "targets":
			g.Targets = n
		case "idle":
			g.IdleConnectTimeout = int64(n)
		default:
			return GenerateSpec{}, fmt.Errorf("clbsim: generate spec: unknown key %q (want lbs, listeners, l7, rules, targets, eni, rst, idle)", k)
		}
	}
	if !l7Given {
		g.Layer7 = min(g.Layer7, g.Listeners)
	}
	return g, g.check()
}

// String is the spec in the syntax ParseGenerateSpec reads.
func (g GenerateSpec) String() string {
	s := fmt.Sprintf("lbs=%d,listeners=%d,l7=%d,rules=%d,targets=%d", g.LoadBalancers, g.Listeners, g.Layer7, g.Rules, g.Targets)
	if g.ENI > 0 {
		s += ",eni=" + strconv.FormatFloat(g.ENI, 'g', -1, 64)
	}
	if g.RST > 0 {
		s += ",rst=" + strconv.FormatFloat(g.RST, 'g', -1, 64)
	}
	if g.IdleConnectTimeout != 0 {
		s += ",idle=" + strconv.FormatInt(g.IdleConnectTimeout, 10)
	}
	return s
}

func (g GenerateSpec) check() error {
	switch {
	case g.LoadBalancers < 0 || g.LoadBalancers > maxGenerated,
		g.Listeners < 0 || g.Listeners > maxGenerated,
		g.Rules < 0 || g.Rules > maxGenerated:
		return fmt.Errorf("clbsim: generate spec %s: counts must be 0-%d", g, maxGenerated)
	case g.Layer7 < 0 || g.Layer7 > g.Listeners:
		return fmt.Errorf("clbsim: generate spec %s: l7 must be 0-%d (the listeners)", g, g.Listeners)
	case g.Targets < 0 || g.Targets > maxGeneratedTargets:
		return fmt.Errorf("clbsim: generate spec %s: targets must be 0-%d", g, maxGeneratedTargets)
	case g.ENI < 0 || g.ENI > 1:
		return fmt.Errorf("clbsim: generate spec %s: eni must be 0-1", g)
	case g.RST < 0 || g.RST > 1:
		return fmt.Errorf("clbsim: generate spec %s: rst must be 0-1", g)
	case g.IdleConnectTimeout != 0 && (g.IdleConnectTimeout < minIdleConnectTimeout || g.IdleConnectTimeout > maxIdleConnectTimeout):
		return fmt.Errorf("clbsim: generate spec %s: idle must be %d-%d seconds", g, minIdleConnectTimeout, maxIdleConnectTimeout)
	}
	places := g.Listeners - g.Layer7 + g.Layer7*g.Rules
	if places > maxPlaces {
		return fmt.Errorf("clbsim: generate spec %s: more than %d listeners and rules per load balancer", g, maxPlaces)
	}
	if g.LoadBalancers*places*g.Targets > maxGeneratedBindings {
		return fmt.Errorf("clbsim: generate spec %s: more than %d bound targets", g, maxGeneratedBindings)
	}
	return nil
}

// Generate builds a fleet of the spec's size. The same spec and seed give
// the same fleet: IDs (lb-, lbl-, loc-, ins- followed by 8 lowercase letters
// or digits) are drawn from the seed; addresses are 10.0.0.1 onward; layer-4
// listeners are TCP and UDP on 7000 onward, layer-7 ones HTTP:80, HTTPS:443,
// then HTTP on 8000 onward; each listener and rule binds its targets on its
// own backend port, 10000 onward. Listeners are named after their protocol
// and port ("tcp-7000"); TCP listeners have DeregisterTargetRst off (on for
// a share RST of them) and IdleConnectTimeout 900 (or the spec's), layer-4
// listeners SessionExpireTime 0.
func Generate(g GenerateSpec, seed uint64) (State, error) {
	if err := g.check(); err != nil {
		return State{}, err
	}
	gen := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x67656e6572617465)), used: map[string]bool{}, nextIP: netip.MustParseAddr("10.0.0.1")}
	s := State{LoadBalancers: make([]LoadBalancer, 0, g.LoadBalancers)}
	for i := range g.LoadBalancers {
		lb := LoadBalancer{LoadBalancerId: gen.id(prefixLB), LoadBalancerName: fmt.Sprintf("clbsim-%d", i+1),
			ListenerAttributes: map[string]ListenerAttributes{}}
		pool := gen.pool(g.Targets, g.ENI)
		backendPort := int64(firstBackendPort)
		for k := range g.Listeners {
			l := clb.Listener{ListenerId: gen.id(prefixListener)}
			if j := k - (g.Listeners - g.Layer7); j >= 0 {
				l.Protocol, l.Port = clb.ProtocolHTTP, int64(80)
				switch {
				case j == 1:
					l.Protocol, l.Port = clb.ProtocolHTTPS, 443
				case j > 1:
					l.Port = int64(8000 + k)
				}
				for r := range g.Rules {
					l.Rules = append(l.Rules, clb.Rule{LocationId: gen.id(prefixLocation),
						Domain: fmt.Sprintf("app%d.example.com", j+1), Url: fmt.Sprintf("/r%d/", r+1),
						Targets: bind(pool, backendPort)})
					backendPort++
				}
			} else {
				l.Protocol, l.Port = clb.ProtocolTCP, int64(7000+k)
				if k%2 == 1 {
					l.Protocol = clb.ProtocolUDP
				}
				l.Targets = bind(pool, backendPort)
				backendPort++
			}
			lb.Listeners = append(lb.Listeners, l)
			lb.ListenerAttributes[l.ListenerId] = gen.attributes(g, l.Protocol, l.Port)
		}
		s.LoadBalancers = append(s.LoadBalancers, lb)
	}
	return s, nil
}

// attributes are a generated listener's: its name and, with the API's
// defaults, the attributes its protocol has.
func (gen *generator) attributes(g GenerateSpec, protocol string, port int64) ListenerAttributes {
	a := ListenerAttributes{ListenerName: fmt.Sprintf("%s-%d", strings.ToLower(protocol), port)}
	if protocol == clb.ProtocolTCP {
		// Draw only for a share strictly between 0 and 1, so that the other
		// specs give the fleets they gave before rst existed.
		rst := g.RST >= 1 || g.RST > 0 && gen.rng.Float64() < g.RST
		a.DeregisterTargetRst = &rst
		if g.IdleConnectTimeout != 0 {
			a.IdleConnectTimeout = ptr(g.IdleConnectTimeout)
		}
	}
	return a.withDefaults(protocol)
}

type generator struct {
	rng    *rand.Rand
	used   map[string]bool
	nextIP netip.Addr
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// id draws a new, unique id with the prefix.
func (gen *generator) id(prefix string) string {
	for {
		b := []byte(prefix + "00000000")
		for i := len(prefix); i < len(b); i++ {
			b[i] = idAlphabet[gen.rng.IntN(len(idAlphabet))]
		}
		if id := string(b); !gen.used[id] {
			gen.used[id] = true
			return id
		}
	}
}

// pool draws n servers, a share eni of them ENI addresses.
func (gen *generator) pool(n int, eni float64) []clb.BoundTarget {
	out := make([]clb.BoundTarget, n)
	for i := range out {
		ip := gen.nextIP.String()
		gen.nextIP = gen.nextIP.Next()
		if gen.rng.Float64() < eni {
			out[i] = clb.BoundTarget{Type: TypeENI, PrivateIpAddresses: []string{ip}}
			continue
		}
		out[i] = clb.BoundTarget{Type: TypeCVM, InstanceId: gen.id(prefixInstance), PrivateIpAddresses: []string{ip}}
	}
	return out
}

// bind is the pool bound on a backend port with the default weight.
func bind(pool []clb.BoundTarget, port int64) []clb.BoundTarget {
	out := make([]clb.BoundTarget, len(pool))
	for i, b := range pool {
		b.Port, b.Weight = port, defaultWeight
		b.PrivateIpAddresses = append([]string(nil), b.PrivateIpAddresses...)
		out[i] = b
	}
	return out
}
