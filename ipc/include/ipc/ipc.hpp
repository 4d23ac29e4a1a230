// ipckit: every public header (the library's __init__).
#pragma once

#include <ipc/errors.hpp>
#include <ipc/process.hpp>
#include <ipc/serialize.hpp>
#include <ipc/timeout.hpp>
#include <ipc/shared_memory.hpp>
#include <ipc/queues.hpp>
