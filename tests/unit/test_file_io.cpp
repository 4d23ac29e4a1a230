// detail/file_io.hpp: whole-buffer writes and whole-file reads report errors as std::error_code.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include <ipc/detail/file_io.hpp>
#include <ipc/detail/unique_fd.hpp>

#include "test_support.hpp"

using ipc::detail::UniqueFd;

TEST_SUITE("file_io") {
  TEST_CASE("write_all writes every byte through short pipe writes and read_file reads them back") {
    ipc::test::TempDir dir;
    std::string path = (dir.path() / "f").string();
    std::string data(300000, 'x');  // larger than one pipe or one read buffer
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
    {
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      REQUIRE(fd);
      std::size_t written = 0;
      CHECK_FALSE(ipc::detail::write_all(fd.get(), data, &written));
      CHECK(written == data.size());
    }
    std::string back = "old contents";
    CHECK_FALSE(ipc::detail::read_file(path, back));
    CHECK(back == data);
  }

  TEST_CASE("write_all on a full device is ENOSPC and says how much went in") {
    UniqueFd fd(::open("/dev/full", O_WRONLY | O_CLOEXEC));
    REQUIRE(fd);
    std::size_t written = 99;
    auto ec = ipc::detail::write_all(fd.get(), "abc", &written);
    CHECK(ec == std::errc::no_space_on_device);
    CHECK(written == 0);
  }

  TEST_CASE("write_all to a pipe whose reader is gone is EPIPE") {
    struct sigaction ign {}, old {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    r.reset();
    CHECK(ipc::detail::write_all(w.get(), "line\n") == std::errc::broken_pipe);
    ::sigaction(SIGPIPE, &old, nullptr);
  }

  TEST_CASE("write_all_at writes at its offset and leaves the file position alone") {
    ipc::test::TempDir dir;
    std::string path = (dir.path() / "f").string();
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd);
    CHECK_FALSE(ipc::detail::write_all(fd.get(), "0123456789"));
    CHECK_FALSE(ipc::detail::write_all_at(fd.get(), "ab", 3));
    CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 10);
    std::string back;
    CHECK_FALSE(ipc::detail::read_all(fd.get(), back));  // from offset 0 whatever the position
    CHECK(back == "012ab56789");
    CHECK(::lseek(fd.get(), 0, SEEK_CUR) == 10);
  }

  TEST_CASE("read_file says ENOENT for a missing file and EFBIG above its limit") {
    ipc::test::TempDir dir;
    std::string out = "kept?";
    CHECK(ipc::detail::read_file((dir.path() / "missing").string(), out) == std::errc::no_such_file_or_directory);
    std::string path = (dir.path() / "big").string();
    {
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      REQUIRE(fd);
      REQUIRE_FALSE(ipc::detail::write_all(fd.get(), std::string(100, 'z')));
    }
    CHECK(ipc::detail::read_file(path, out, 99) == std::errc::file_too_large);
    CHECK_FALSE(ipc::detail::read_file(path, out, 100));
    CHECK(out == std::string(100, 'z'));
  }

  TEST_CASE("read_all reads a /proc file") {
    std::string text;
    CHECK_FALSE(ipc::detail::read_file("/proc/self/status", text, 1u << 20));
    CHECK(text.find("Pid:\t" + std::to_string(::getpid()) + "\n") != std::string::npos);
  }
}
