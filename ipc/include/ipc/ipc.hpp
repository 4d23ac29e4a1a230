// ipckit: every public header (the library's __init__).
#pragma once

#include <ipc/errors.hpp>
#include <ipc/lifecycle.hpp>
#include <ipc/process.hpp>
#include <ipc/serialize.hpp>
#include <ipc/timeout.hpp>
#include <ipc/connection.hpp>
#include <ipc/fifo.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/sharedctypes.hpp>
#include <ipc/synchronize.hpp>
#include <ipc/queues.hpp>
#include <ipc/pool.hpp>
#include <ipc/executor.hpp>
#include <ipc/managers.hpp>  // link ipckit::manager to use it
