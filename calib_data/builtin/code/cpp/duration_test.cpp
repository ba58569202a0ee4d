// duration_test.cpp
// A tiny self-registering test harness plus the function it exercises:
// parse_duration("1h30m") -> 5400 seconds. No external framework needed.

#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// ===== code under test =====

// Accepts sequences like "2h", "45m10s", "1d12h". Units must appear in
// descending order and at most once. Returns nullopt on malformed input.
std::optional<std::int64_t> parse_duration(std::string_view text) {
    if (text.empty()) return std::nullopt;

    constexpr std::string_view units = "dhms";
    constexpr std::int64_t scale[] = {86400, 3600, 60, 1};

    std::int64_t total = 0;
    std::size_t last_unit = 0;
    bool any_unit = false;
    std::size_t i = 0;

    while (i < text.size()) {
        std::int64_t value = 0;
        std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            value = value * 10 + (text[i] - '0');
            if (value > 1'000'000'000) return std::nullopt;  // keep it sane
            ++i;
        }
        if (i == start || i == text.size()) return std::nullopt;  // no digits / no unit

        std::size_t u = units.find(text[i]);
        if (u == std::string_view::npos) return std::nullopt;
        if (any_unit && u <= last_unit) return std::nullopt;  // out of order or repeated

        total += value * scale[u];
        last_unit = u;
        any_unit = true;
        ++i;
    }
    return total;
}

// ===== harness =====

struct TestCase {
    const char* name;
    std::function<void()> body;
};

std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}

struct Registrar {
    Registrar(const char* name, std::function<void()> fn) {
        registry().push_back({name, std::move(fn)});
    }
};

int g_failures = 0;

#define TEST(name)                                        \
    static void name();                                   \
    static Registrar name##_registrar(#name, name);       \
    static void name()

#define EXPECT_EQ(actual, expected)                              \
    do {                                                         \
        if (!((actual) == (expected))) {                         \
            ++g_failures;                                        \
            std::cerr << "  " << __FILE__ << ":" << __LINE__     \
                      << ": " << #actual << " != " << #expected  \
                      << "\n";                                   \
        }                                                        \
    } while (0)

// ===== tests =====

TEST(single_units) {
    EXPECT_EQ(parse_duration("45s"), std::optional<std::int64_t>(45));
    EXPECT_EQ(parse_duration("2m"), std::optional<std::int64_t>(120));
    EXPECT_EQ(parse_duration("1d"), std::optional<std::int64_t>(86400));
}

TEST(combined_units) {
    EXPECT_EQ(parse_duration("1h30m"), std::optional<std::int64_t>(5400));
    EXPECT_EQ(parse_duration("1d2h3m4s"), std::optional<std::int64_t>(93784));
}

TEST(rejects_garbage) {
    EXPECT_EQ(parse_duration(""), std::nullopt);
    EXPECT_EQ(parse_duration("10"), std::nullopt);    // missing unit
    EXPECT_EQ(parse_duration("h"), std::nullopt);     // missing number
    EXPECT_EQ(parse_duration("5x"), std::nullopt);    // unknown unit
    EXPECT_EQ(parse_duration("3m1h"), std::nullopt);  // wrong order
    EXPECT_EQ(parse_duration("1m1m"), std::nullopt);  // repeated unit
}

int main() {
    int failed_tests = 0;
    for (const auto& t : registry()) {
        int before = g_failures;
        t.body();
        bool ok = g_failures == before;
        failed_tests += ok ? 0 : 1;
        std::cout << (ok ? "[ OK ] " : "[FAIL] ") << t.name << "\n";
    }
    std::cout << registry().size() - failed_tests << "/" << registry().size()
              << " tests passed\n";
    return failed_tests == 0 ? 0 : 1;
}
