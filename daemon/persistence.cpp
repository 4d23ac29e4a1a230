// Persistence as a whole: loading at start (snapshot or log), autosave, saving at shutdown.
#include "server.hpp"

#include "child.hpp"
#include "rio.hpp"

#include <ipc/errors.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <system_error>

namespace ipc::managerd {

void Server::autosave() {
  // The append-only log: rewrite it once it grew by the percentage since the last rewrite.
  if (m_aof_fd && aof_rewrite_child <= 0 && m_opts.auto_aof_rewrite_percentage > 0 &&
      m_aof_size >= m_opts.auto_aof_rewrite_min_size &&
      m_aof_size >= m_aof_base_size + m_aof_base_size / 100 * static_cast<std::size_t>(m_opts.auto_aof_rewrite_percentage) &&
      (last_aof_rewrite_ok || now_ms() - m_aof_rewrite_try >= 5000)) {  // retry a failed one after 5 s
    log(LogLevel::info, "append-only log grew to " + std::to_string(m_aof_size) + " bytes: rewriting it");
    try {
      bgrewriteaof();
    } catch (const std::exception& e) {
      log(LogLevel::error, e.what());
    }
  }
  if (m_opts.snapshot.empty() || bgsave_child > 0 || changes_since_save == 0) return;
  long long now = now_ms();
  if (!last_bgsave_ok && now - m_last_bgsave_try < 5000) return;  // retry a failed save after 5 s
  for (auto& [secs, changes] : m_opts.save_points) {
    if (changes_since_save >= changes && now - last_save_ms >= secs * 1000) {
      log(LogLevel::info, std::to_string(changes) + " changes in " + std::to_string(secs) + " seconds: saving");
      try {
        bgsave();
      } catch (const std::exception& e) {
        log(LogLevel::error, e.what());
      }
      return;
    }
  }
}

bool Server::request_shutdown(Client* c, int save) {
  kill_aof_rewrite();
  kill_child(bgsave_child, m_opts.snapshot + ".tmp-" + std::to_string(bgsave_child));
  bool want = save == 1 || (save == -1 && !m_opts.snapshot.empty());
  if (want) {
    if (m_opts.snapshot.empty()) {
      if (c) reply_err(*c, "no snapshot file configured (start ipc-managerd with --snapshot FILE)");
      return false;
    }
    if (!save_snapshot()) {
      if (c) reply_err(*c, "Errors trying to SHUTDOWN. Check logs.");
      return false;
    }
  }
  if (!aof_flush())  // their replies never left: nothing acknowledged is lost
    log(LogLevel::error, "shutting down with " + std::to_string(m_aof_buf.size()) +
                             " bytes of unacknowledged writes that the append-only log could not take");
  if (m_aof_fd) ::fsync(m_aof_fd.get());
  m_shutdown = true;
  log(LogLevel::info, "shutting down");
  return true;
}

void Server::load_persistence() {
  bool aof_has_data = false;
  if (!m_opts.appendonly.empty()) {
    struct stat st{};
    aof_has_data = ::stat(m_opts.appendonly.c_str(), &st) == 0 && st.st_size > 0;
  }
  if (!m_opts.snapshot.empty()) {
    // A server (or BGSAVE child) killed while saving leaves its temp file.
    remove_stale_temps(m_opts.snapshot, ".tmp-");
  }
  if (!m_opts.snapshot.empty() && !aof_has_data) {
    std::optional<std::string> data;
    try {
      data = read_file(m_opts.snapshot);
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::no_such_file_or_directory)
        throw std::runtime_error("cannot read snapshot " + m_opts.snapshot + ": " + e.what());
    }
    if (data) {
      try {
        snapshot_decode(*data, db);
      } catch (const ProtocolError& e) {
        throw ProtocolError("refusing to start: snapshot " + m_opts.snapshot + ": " + e.what());
      }
      log(LogLevel::info, "loaded " + std::to_string(db.total_size()) + " keys from " + m_opts.snapshot);
    } else {
      log(LogLevel::info, "no snapshot at " + m_opts.snapshot + ": starting empty");
    }
  }
  if (!m_opts.appendonly.empty()) {
    aof_remove_stale_rewrites();
    aof_open_and_replay();
    if (!aof_has_data && db.total_size() > 0) aof_seed_from_db();  // the new log starts from the snapshot
    if (m_opts.appendfsync == FsyncPolicy::everysec) m_aof_syncer = std::make_unique<AofSyncer>(m_aof_fd.get());
  }
}

}  // namespace ipc::managerd
