// Redis Cluster support of the manager session: key slots (CRC16 with hash tags) and the slot map.
#include "manager_session.hpp"

#include <array>

namespace ipc::detail {

namespace {

// CRC16-CCITT (XMODEM), polynomial 0x1021, as in Redis's crc16.c; the table is built at compile time.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) crc = static_cast<std::uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrc16 = make_crc16_table();

std::uint16_t crc16(std::string_view s) noexcept {
  std::uint16_t crc = 0;
  for (unsigned char c : s) crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
  // Redis's keyHashSlot: hash only what is between the first '{' and the next '}' when non-empty.
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) & 16383);
}

std::size_t ManagerSession::node_index(const std::string& host, int port) {
  for (std::size_t i = 0; i < m_nodes.size(); ++i)
    if (m_nodes[i].ep.path.empty() && m_nodes[i].ep.host == host && m_nodes[i].ep.port == port) return i;
  Endpoint ep;
  ep.host = host;
  ep.port = port;
  m_nodes.push_back(Node{ep, std::nullopt});
  return m_nodes.size() - 1;
}

std::size_t ManagerSession::node_for(std::string_view key, const Deadline& dl) {
  if (!m_addr.cluster) return 0;
  if (m_slots_stale) refresh_slots(dl);
  if (key.empty() || m_slots.empty()) return 0;
  return m_slots[key_slot(key)];
}

void ManagerSession::refresh_slots(const Deadline& dl) {
  // CLUSTER SLOTS from the first node that answers:
  // [[start, end, [host, port, id], replicas...], ...]
  std::string last_error = "no node answered";
  for (std::size_t i = 0; i < m_nodes.size(); ++i) {
    Reply r;
    try {
      r = connection(i, dl).call({"CLUSTER", "SLOTS"}, dl.infinite() ? Timeout{} : Timeout{dl.remaining()});
    } catch (const ConnectionClosed& e) {
      m_nodes[i].conn.reset();
      last_error = e.what();
      continue;
    } catch (const std::system_error& e) {
      m_nodes[i].conn.reset();
      last_error = e.what();
      continue;
    }
    if (r.type != Reply::Type::array) {
      last_error = r.str;
      continue;
    }
    std::vector<std::uint16_t> slots(16384, 0);
    std::string asked_host = m_nodes[i].ep.host;
    for (auto& range : r.elements) {
      if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) continue;
      auto& master = range.elements[2];
      std::string host = master.elements[0].str;
      if (host.empty() || host == "?") host = asked_host;
      auto idx = node_index(host, static_cast<int>(master.elements[1].integer));
      for (long long s = range.elements[0].integer; s <= range.elements[1].integer && s < 16384; ++s)
        slots[static_cast<std::size_t>(s)] = static_cast<std::uint16_t>(idx);
    }
    m_slots = std::move(slots);
    m_slots_stale = false;
    return;
  }
  // Let the caller's retry loop back off and try again.
  throw ConnectionClosed("no cluster node gave its slot map (" + last_error + ")");
}

}  // namespace ipc::detail
