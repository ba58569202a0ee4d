// fixed_vector.hpp
// 容量をテンプレート引数で固定した可変長配列。
// ヒープを使わないので、組み込み環境や割り込み処理の中でも扱える。
#pragma once

#include <cstddef>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

template <typename T, std::size_t N>
class fixed_vector {
    static_assert(N > 0, "容量 0 の fixed_vector は作れない");

public:
    using value_type     = T;
    using size_type      = std::size_t;
    using iterator       = T*;
    using const_iterator = const T*;

    fixed_vector() noexcept = default;

    fixed_vector(std::initializer_list<T> init) {
        for (const auto& v : init) push_back(v);
    }

    // コピー：要素ごとにコピーコンストラクタを呼ぶ
    fixed_vector(const fixed_vector& other) {
        for (const auto& v : other) push_back(v);
    }

    fixed_vector& operator=(const fixed_vector& other) {
        if (this != &other) {
            clear();
            for (const auto& v : other) push_back(v);
        }
        return *this;
    }

    ~fixed_vector() { clear(); }

    // 構築済みの要素だけを破棄する。未初期化の領域には触れない
    void clear() noexcept {
        while (size_ > 0) pop_back();
    }

    template <typename... Args>
    T& emplace_back(Args&&... args) {
        if (size_ == N) throw std::length_error("fixed_vector: 容量を超えた");
        T* p = ::new (static_cast<void*>(slot(size_))) T(std::forward<Args>(args)...);
        ++size_;
        return *p;
    }

    void push_back(const T& v) { emplace_back(v); }
    void push_back(T&& v) { emplace_back(std::move(v)); }

    void pop_back() noexcept {
        --size_;
        std::launder(slot(size_))->~T();
    }

    T&       operator[](size_type i) noexcept { return *std::launder(slot(i)); }
    const T& operator[](size_type i) const noexcept { return *std::launder(slot(i)); }

    // 範囲外アクセスを例外で知らせる版
    T& at(size_type i) {
        if (i >= size_) throw std::out_of_range("fixed_vector::at");
        return (*this)[i];
    }

    iterator       begin() noexcept { return std::launder(slot(0)); }
    iterator       end() noexcept { return begin() + size_; }
    const_iterator begin() const noexcept { return std::launder(slot(0)); }
    const_iterator end() const noexcept { return begin() + size_; }

    size_type size() const noexcept { return size_; }
    static constexpr size_type capacity() noexcept { return N; }
    bool empty() const noexcept { return size_ == 0; }
    bool full() const noexcept { return size_ == N; }

private:
    // 生のバイト列として確保し、整列だけは T に合わせる
    alignas(T) unsigned char storage_[sizeof(T) * N];
    size_type size_ = 0;

    T* slot(size_type i) noexcept {
        return reinterpret_cast<T*>(storage_) + i;
    }
    const T* slot(size_type i) const noexcept {
        return reinterpret_cast<const T*>(storage_) + i;
    }
};

// 二つの fixed_vector の要素を比較する（容量が違っても比較できる）
template <typename T, std::size_t A, std::size_t B>
bool operator==(const fixed_vector<T, A>& a, const fixed_vector<T, B>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!(a[i] == b[i])) return false;
    }
    return true;
}
