// Publish/subscribe (Redis pubsub.c): SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.
#include "server.hpp"

#include <algorithm>
#include <cctype>

namespace ipc::managerd {

namespace {

std::size_t subscription_count(const Client& c) { return c.channels.size() + c.patterns.size(); }

// Remembers out[begin, end) as a push, so that CLIENT REPLY OFF/SKIP does not drop it.
void mark_push(Client& c, std::size_t begin) {
  if (c.silenced) c.pushes.emplace_back(begin, c.out.size());
}

// ["subscribe", channel, count] and the like: a push in RESP3, an array in RESP2.
void reply_subscription(Client& c, std::string_view kind, const std::string_view* channel) {
  std::size_t begin = c.out.size();
  reply_push(c, 3);
  reply_bulk(c, kind);
  channel ? reply_bulk(c, *channel) : reply_nil(c);
  reply_int(c, static_cast<long long>(subscription_count(c)));
  mark_push(c, begin);
}

template <class Index>
void index_remove(Index& index, std::string_view name, Client* c) {
  auto it = index.find(std::string(name));
  if (it == index.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
  if (v.empty()) index.erase(it);
}

void subscribe_generic(Server& srv, Client& c, Args argv, bool pattern) {
  for (std::size_t i = 1; i < argv.size(); ++i) {
    srv.pubsub_subscribe(c, argv[i], pattern);
    reply_subscription(c, pattern ? "psubscribe" : "subscribe", &argv[i]);
  }
}

void unsubscribe_generic(Server& srv, Client& c, Args argv, bool pattern) {
  const char* kind = pattern ? "punsubscribe" : "unsubscribe";
  if (argv.size() == 1) {
    auto all = pattern ? c.patterns : c.channels;  // a copy: unsubscribing edits the list
    if (all.empty()) return reply_subscription(c, kind, nullptr);
    for (auto& ch : all) {
      srv.pubsub_unsubscribe(c, ch, pattern);
      std::string_view v = ch;
      reply_subscription(c, kind, &v);
    }
    return;
  }
  for (std::size_t i = 1; i < argv.size(); ++i) {
    srv.pubsub_unsubscribe(c, argv[i], pattern);
    reply_subscription(c, kind, &argv[i]);
  }
}

}  // namespace

bool Server::pubsub_subscribe(Client& c, std::string_view channel, bool pattern) {
  auto& mine = pattern ? c.patterns : c.channels;
  if (std::find(mine.begin(), mine.end(), channel) != mine.end()) return false;
  if (!c.subscribed()) ++m_pubsub_clients;
  mine.emplace_back(channel);
  if (pattern)
    m_patterns[std::string(channel)].push_back(&c);
  else
    m_channels[std::string(channel)].push_back(&c);
  return true;
}

bool Server::pubsub_unsubscribe(Client& c, std::string_view channel, bool pattern) {
  auto& mine = pattern ? c.patterns : c.channels;
  auto it = std::find(mine.begin(), mine.end(), channel);
  if (it == mine.end()) return false;
  mine.erase(it);
  if (pattern)
    index_remove(m_patterns, channel, &c);
  else
    index_remove(m_channels, channel, &c);
  if (!c.subscribed()) --m_pubsub_clients;
  return true;
}

void Server::pubsub_drop_client(Client& c) {
  if (!c.subscribed()) return;
  for (auto& ch : c.channels) index_remove(m_channels, ch, &c);
  for (auto& p : c.patterns) index_remove(m_patterns, p, &c);
  c.channels.clear();
  c.patterns.clear();
  --m_pubsub_clients;
}

long long Server::pubsub_publish(std::string_view channel, std::string_view msg) {
  long long receivers = 0;
  auto deliver = [&](Client* r) {
    ++receivers;
    if (r->fake) return;
    queue_write(*r);
  };
  if (auto it = m_channels.find(channel); it != m_channels.end()) {
    for (Client* r : it->second) {
      std::size_t begin = r->out.size();
      reply_push(*r, 3);
      reply_bulk(*r, "message");
      reply_bulk(*r, channel);
      reply_bulk(*r, msg);
      mark_push(*r, begin);
      deliver(r);
    }
  }
  for (auto& [pat, clients] : m_patterns) {
    if (!glob_match(pat, channel)) continue;
    for (Client* r : clients) {
      std::size_t begin = r->out.size();
      reply_push(*r, 4);
      reply_bulk(*r, "pmessage");
      reply_bulk(*r, pat);
      reply_bulk(*r, channel);
      reply_bulk(*r, msg);
      mark_push(*r, begin);
      deliver(r);
    }
  }
  return receivers;
}

// ---- keyspace notifications (Redis notify.c) ----

int keyspace_events_parse(std::string_view s) {
  int flags = 0;
  for (char ch : s) {
    switch (ch) {
      case 'A': flags |= kNotifyAll; break;
      case 'g': flags |= kNotifyGeneric; break;
      case '$': flags |= kNotifyString; break;
      case 'l': flags |= kNotifyList; break;
      case 's': flags |= kNotifySet; break;
      case 'h': flags |= kNotifyHash; break;
      case 'z': flags |= kNotifyZset; break;
      case 'x': flags |= kNotifyExpired; break;
      case 'e': flags |= kNotifyEvicted; break;
      case 'K': flags |= kNotifyKeyspace; break;
      case 'E': flags |= kNotifyKeyevent; break;
      case 't': flags |= kNotifyStream; break;
      case 'm': flags |= kNotifyKeyMiss; break;
      case 'd': flags |= kNotifyModule; break;
      case 'n': flags |= kNotifyNew; break;
      default: return -1;
    }
  }
  return flags;
}

std::string keyspace_events_string(int flags) {
  std::string s;
  if ((flags & kNotifyAll) == kNotifyAll) {
    s += 'A';
  } else {
    const std::pair<int, char> letters[] = {{kNotifyGeneric, 'g'}, {kNotifyString, '$'}, {kNotifyList, 'l'},
                                            {kNotifySet, 's'},     {kNotifyHash, 'h'},   {kNotifyZset, 'z'},
                                            {kNotifyExpired, 'x'}, {kNotifyEvicted, 'e'}, {kNotifyStream, 't'},
                                            {kNotifyModule, 'd'},  {kNotifyNew, 'n'}};
    for (auto [f, ch] : letters)
      if (flags & f) s += ch;
  }
  if (flags & kNotifyKeyspace) s += 'K';
  if (flags & kNotifyKeyevent) s += 'E';
  if (flags & kNotifyKeyMiss) s += 'm';
  return s;
}

void Server::notify_slow(int, std::string_view event, std::string_view key) {
  int flags = m_opts.notify_keyspace_events;
  // Nothing is published unless K or E is set too (Redis's notifyKeyspaceEvent).
  if (!(flags & (kNotifyKeyspace | kNotifyKeyevent))) return;
  std::string db_part = std::to_string(db.selected()) + "__:";
  if (flags & kNotifyKeyspace) pubsub_publish("__keyspace@" + db_part + std::string(key), event);
  if (flags & kNotifyKeyevent) pubsub_publish("__keyevent@" + db_part + std::string(event), key);
}

/* SUBSCRIBE <channel> [<channel> ...] */
void cmd_subscribe(Server& srv, Client& c, Args argv) { subscribe_generic(srv, c, argv, false); }
/* PSUBSCRIBE <pattern> [<pattern> ...] */
void cmd_psubscribe(Server& srv, Client& c, Args argv) { subscribe_generic(srv, c, argv, true); }
/* UNSUBSCRIBE [<channel> ...] */
void cmd_unsubscribe(Server& srv, Client& c, Args argv) { unsubscribe_generic(srv, c, argv, false); }
/* PUNSUBSCRIBE [<pattern> ...] */
void cmd_punsubscribe(Server& srv, Client& c, Args argv) { unsubscribe_generic(srv, c, argv, true); }

/* PUBLISH <channel> <message> */
void cmd_publish(Server& srv, Client& c, Args argv) {
  reply_int(c, srv.pubsub_publish(argv[1], argv[2]));
  srv.feed(srv.db.selected(), argv, false);  // replicas deliver it to their subscribers too (not logged)
}

/* PUBSUB CHANNELS [<pattern>] | NUMSUB [<channel> ...] | NUMPAT */
void cmd_pubsub(Server& srv, Client& c, Args argv) {
  std::string sub(argv[1]);
  for (auto& ch : sub) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (sub == "channels" && argv.size() <= 3) {
    std::vector<std::string_view> out;
    for (auto& [ch, clients] : srv.pubsub_channels())
      if (argv.size() == 2 || glob_match(argv[2], ch)) out.push_back(ch);
    reply_array(c, out.size());
    for (auto ch : out) reply_bulk(c, ch);
  } else if (sub == "numsub") {
    reply_array(c, (argv.size() - 2) * 2);
    for (std::size_t i = 2; i < argv.size(); ++i) {
      auto it = srv.pubsub_channels().find(argv[i]);
      reply_bulk(c, argv[i]);
      reply_int(c, it == srv.pubsub_channels().end() ? 0 : static_cast<long long>(it->second.size()));
    }
  } else if (sub == "numpat" && argv.size() == 2) {
    reply_int(c, static_cast<long long>(srv.pubsub_pattern_count()));
  } else if (sub == "channels" || sub == "numpat") {
    reply_arity(c, "pubsub|" + sub);
  } else {
    reply_err(c, "unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try PUBSUB HELP.");
  }
}

}  // namespace ipc::managerd
