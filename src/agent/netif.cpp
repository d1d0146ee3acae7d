#include "agent/netif.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace lattice::agent {
namespace {

// Connects a UDP socket (which sends nothing) and returns its local address.
Result<sockaddr_storage> RouteSource(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port > 0 ? port : 9);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return Error(ErrorCode::kUnavailable, "cannot resolve '" + host + "': " + gai_strerror(rc));
  Result<sockaddr_storage> out = Error(ErrorCode::kUnavailable, "no route to '" + host + "'");
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    bool ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
              getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
    close(fd);
    if (ok) {
      out = local;
      break;
    }
  }
  freeaddrinfo(found);
  return out;
}

std::string AddressText(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf, sizeof buf);
  else if (a.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, buf, sizeof buf);
  return buf;
}

bool SameAddress(const sockaddr* ifa, const sockaddr_storage& a) {
  if (!ifa || ifa->sa_family != a.ss_family) return false;
  if (a.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(ifa)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(&a)->sin_addr.s_addr;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(ifa)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, sizeof(in6_addr)) == 0;
}

}  // namespace

Result<std::string> LocalAddressToward(const std::string& host, int port) {
  LATTICE_ASSIGN_OR_RETURN(sockaddr_storage local, RouteSource(host, port));
  return AddressText(local);
}

Result<std::string> InterfaceToward(const std::string& host) {
  LATTICE_ASSIGN_OR_RETURN(sockaddr_storage local, RouteSource(host, 0));
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return ErrnoError("listing network interfaces", errno);
  std::string name;
  for (ifaddrs* i = list; i && name.empty(); i = i->ifa_next)
    if (SameAddress(i->ifa_addr, local)) name = i->ifa_name;
  freeifaddrs(list);
  if (name.empty())
    return Error(ErrorCode::kNotFound, "no interface holds " + AddressText(local) + " (the route toward " + host + ")");
  return name;
}

}  // namespace lattice::agent
