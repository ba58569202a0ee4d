// unique_fd.hpp -- RAII wrappers around POSIX file descriptors and a
// generic scope guard.
//
// The point of these types is that the close() happens on every path out
// of a function, including early returns and exceptions, without anyone
// having to remember it.
#pragma once

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>

class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}

    // Owning a descriptor is exclusive, so copying is forbidden...
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    // ...but ownership can be handed over.
    unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }

    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    // Give up ownership without closing; the caller becomes responsible.
    int release() noexcept { return std::exchange(fd_, -1); }

    // Close the current descriptor (if any) and adopt a new one.
    // Errors from close() are deliberately swallowed here: a destructor
    // has nowhere sensible to report them. Call close() explicitly when
    // the result matters, e.g. after writing.
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0 && fd_ != fd) ::close(fd_);
        fd_ = fd;
    }

    void close() {
        int fd = release();
        if (fd >= 0 && ::close(fd) != 0)
            throw std::system_error(errno, std::generic_category(), "close");
    }

    static unique_fd open(const std::string& path, int flags, mode_t mode = 0644) {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "open " + path);
        return unique_fd(fd);
    }

private:
    int fd_ = -1;
};

// Runs a callable when the scope ends unless dismissed. Handy for undoing a
// half-finished operation: create the guard right after the first step and
// dismiss it once everything has succeeded.
template <typename F>
class scope_guard {
public:
    explicit scope_guard(F fn) noexcept(std::is_nothrow_move_constructible_v<F>)
        : fn_(std::move(fn)) {}

    scope_guard(scope_guard&& other) noexcept(std::is_nothrow_move_constructible_v<F>)
        : fn_(std::move(other.fn_)), active_(std::exchange(other.active_, false)) {}

    scope_guard(const scope_guard&) = delete;
    scope_guard& operator=(const scope_guard&) = delete;
    scope_guard& operator=(scope_guard&&) = delete;

    ~scope_guard() {
        if (active_) fn_();
    }

    void dismiss() noexcept { active_ = false; }

private:
    F fn_;
    bool active_ = true;
};

template <typename F>
scope_guard<F> make_scope_guard(F fn) {
    return scope_guard<F>(std::move(fn));
}

// Example of the two working together: write a file next to the target and
// only keep it if every write succeeded.
inline void write_file_safely(const std::string& path, const std::string& body) {
    const std::string tmp = path + ".partial";
    unique_fd fd = unique_fd::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    auto cleanup = make_scope_guard([&] { ::unlink(tmp.c_str()); });

    std::size_t done = 0;
    while (done < body.size()) {
        ssize_t n = ::write(fd.get(), body.data() + done, body.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "write");
        }
        done += static_cast<std::size_t>(n);
    }
    fd.close();
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(), "rename");
    cleanup.dismiss();
}
