// The master side of Redis's replication (replication.c): SYNC sends the keyspace as an RDB file,
// then the replica gets every write as the append-only log does (SELECT, commands, MULTI/EXEC).
#include "server.hpp"

namespace ipc::managerd {

void Server::add_replica(Client& c) {
  c.replica = true;
  m_replicas.push_back(&c);
  m_aof_db = -1;  // the stream starts with a SELECT (the log gets a redundant one, harmless)
}

/* SYNC */
void cmd_sync(Server& srv, Client& c, Args) {
  if (c.replica) return;  // already attached: Redis ignores a second SYNC too
  std::string rdb = rdb_file(srv.db);
  c.out += '$';
  c.out += std::to_string(rdb.size());
  c.out.append("\r\n", 2);
  c.out += rdb;  // no CRLF after the payload, as Redis sends it
  srv.add_replica(c);
}

}  // namespace ipc::managerd
