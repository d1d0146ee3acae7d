// Which local address and interface this node uses toward another host, as
// the kernel's routing decides (a UDP "connect" sends nothing). A gang needs
// both: other nodes reach rank 0 at the address its agent used toward the
// server, and gloo/NCCL must be told the interface that routes to
// MASTER_ADDR (GLOO_SOCKET_IFNAME), or on a multi-homed machine they pick
// whatever the host name resolves to, often a loopback address, and hang.
#pragma once

#include <string>

#include "common/result.h"

namespace lattice::agent {

// The local IP address the kernel would use to reach host:port.
Result<std::string> LocalAddressToward(const std::string& host, int port);

// The name of the interface holding the local address used to reach host
// ("lo" for a loopback address, "eth0", ...).
Result<std::string> InterfaceToward(const std::string& host);

}  // namespace lattice::agent
