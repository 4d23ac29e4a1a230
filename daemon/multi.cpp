// Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis multi.c).
#include "server.hpp"

#include <algorithm>

namespace ipc::managerd {

namespace {
void discard_transaction(Client& c) {
  c.in_multi = false;
  c.multi_error = false;
  c.queued.clear();
  c.queued_flags = 0;
}
}  // namespace

void Server::touch_watched(std::string_view key) {
  if (m_watched.empty()) return;
  auto it = m_watched.find(db_key(db.selected(), key));
  if (it == m_watched.end()) return;
  for (Client* w : it->second) w->dirty_cas = true;
}

void Server::unwatch_all(Client& c) {
  remove_from_index(m_watched, c.watched, &c);
  c.watched.clear();
  c.dirty_cas = false;
}

/* MULTI */
void cmd_multi(Server&, Client& c, Args) {
  if (c.in_multi) return reply_err(c, "MULTI calls can not be nested");
  c.in_multi = true;
  c.multi_error = false;
  c.queued.clear();
  c.queued_flags = 0;
  reply_ok(c);
}

/* DISCARD */
void cmd_discard(Server& srv, Client& c, Args) {
  if (!c.in_multi) return reply_err(c, "DISCARD without MULTI");
  discard_transaction(c);
  srv.unwatch_all(c);
  reply_ok(c);
}

/* EXEC */
void cmd_exec(Server& srv, Client& c, Args) {
  if (!c.in_multi) return reply_err(c, "EXEC without MULTI");
  if (c.multi_error) {
    discard_transaction(c);
    srv.unwatch_all(c);
    return reply_error_code(c, "EXECABORT Transaction discarded because of previous errors.");
  }
  if (c.dirty_cas) {
    discard_transaction(c);
    srv.unwatch_all(c);
    return reply_nil_array(c);
  }
  auto queued = std::move(c.queued);
  discard_transaction(c);
  srv.unwatch_all(c);  // Redis unwatches before running, so our own writes do not abort us
  reply_array(c, queued.size());
  srv.aof_begin_transaction();
  c.in_exec = true;
  // The reply is checked against the output buffer limit while it grows (Redis checks it on
  // every addReply): past it the client is closed after EXEC, and the rest of its replies are
  // dropped as they are made; the commands still all run, so the transaction stays whole.
  const std::size_t limit = srv.options().client_output_buffer_limit;
  std::vector<std::string_view> views;
  for (auto& cmd : queued) {
    views.assign(cmd.begin(), cmd.end());
    const Command* k = srv.lookup(views[0]);
    const std::size_t mark = c.out.size();
    srv.call(c, *k, views);
    if (c.close_asap) {
      c.out.resize(mark);
    } else if (c.pending_out() > limit && !c.fake) {
      c.close_asap = true;
      std::string().swap(c.out);
      c.out_sent = 0;
    }
  }
  c.in_exec = false;
  srv.aof_end_transaction();
}

/* WATCH <key> [<key> ...] */
void cmd_watch(Server& srv, Client& c, Args argv) {
  if (c.in_multi) return reply_err(c, "WATCH inside MULTI is not allowed");
  for (std::size_t i = 1; i < argv.size(); ++i) srv.watch_key(c, argv[i]);
  reply_ok(c);
}

/* UNWATCH */
void cmd_unwatch(Server& srv, Client& c, Args) {
  srv.unwatch_all(c);
  reply_ok(c);
}

void Server::watch_key(Client& c, std::string_view key) {
  std::string q = db_key(c.db, key);
  if (std::find(c.watched.begin(), c.watched.end(), q) != c.watched.end()) return;
  auto it = m_watched.find(q);
  if (it == m_watched.end()) it = m_watched.emplace(q, std::vector<Client*>{}).first;
  it->second.push_back(&c);
  c.watched.push_back(std::move(q));
}

}  // namespace ipc::managerd
