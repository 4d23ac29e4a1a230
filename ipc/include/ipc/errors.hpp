// Exception types of ipckit, named after Python's.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace ipc {

/// Base of every ipckit exception except OS failures (those are std::system_error).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A blocking call ran out of time where the API promises an exception (Python's TimeoutError).
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// Misuse: a bad argument or a call in the wrong state (Python's ValueError/AssertionError),
/// e.g. starting a process twice or setting `daemon` after start.
class ValueError : public Error {
 public:
  using Error::Error;
};

/// put_nowait()/put(timeout) on a full queue (Python's queue.Full).
class QueueFull : public Error {
 public:
  using Error::Error;
};

/// get_nowait()/get(timeout) on an empty queue (Python's queue.Empty).
class QueueEmpty : public Error {
 public:
  using Error::Error;
};

/// The peer closed the connection, or the object was closed (Python's EOFError).
class ConnectionClosed : public Error {
 public:
  using Error::Error;
};

/// A Listener/Client authkey challenge failed (Python's multiprocessing.AuthenticationError).
class AuthenticationError : public Error {
 public:
  using Error::Error;
};

/// A worker process died while it held a task, and the task died with it (Python's
/// BrokenProcessPool, but what raised it stays usable).
class WorkerLost : public Error {
 public:
  using Error::Error;
};

/// JoinableQueue::join(): every task was accounted for, but count() of them died with the
/// consumer process that held them since the previous join on this handle.
class TasksLost : public WorkerLost {
 public:
  /// `count` tasks were lost; `what` says where.
  TasksLost(const std::string& what, std::uint64_t count) : WorkerLost(what), m_count(count) {}
  /// How many tasks were lost.
  std::uint64_t count() const noexcept { return m_count; }

 private:
  std::uint64_t m_count;
};

/// Bytes that do not decode: truncated, corrupt or oversized frames, bad headers.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

/// put() on a closed queue, or get() on a closed queue that has been drained. A kind of
/// ConnectionClosed (Python's EOFError), so code that handles the end of a pipe handles it too.
class QueueClosed : public ConnectionClosed {
 public:
  using ConnectionClosed::ConnectionClosed;
};

}  // namespace ipc

namespace ipc {

/// Barrier::wait on a barrier that is broken: aborted, reset while waiting, a waiter timed out,
/// the action threw, or a process died inside it (Python's threading.BrokenBarrierError).
class BrokenBarrierError : public Error {
 public:
  using Error::Error;
};

}  // namespace ipc

namespace ipc {

/// A pool task or executor future that was cancelled before it produced a result, or whose
/// pool was terminated (Python's concurrent.futures.CancelledError).
class CancelledError : public Error {
 public:
  using Error::Error;
};

/// An exception thrown by a pool task whose type cannot be re-created in the caller: carries the
/// original (demangled) type name and message. what() is "<type>: <message>".
class RemoteError : public Error {
 public:
  /// The error of a task that threw `type` with `message`.
  RemoteError(std::string type, std::string message)
      : Error(type + ": " + message), m_type(std::move(type)), m_message(std::move(message)) {}
  /// The original exception's type name, e.g. "MyError" or "int".
  const std::string& type_name() const noexcept { return m_type; }
  /// The original exception's what(), empty for a non-std::exception.
  const std::string& message() const noexcept { return m_message; }

 private:
  std::string m_type;
  std::string m_message;
};

}  // namespace ipc
