// sales_report.cpp
// 売上明細を STL のアルゴリズムだけで集計してみる練習。
// 生のループを書かずに、何をしたいか（並べ替え・絞り込み・合計）を
// 関数名で表現することを目標にしている。
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <map>
#include <numeric>
#include <string>
#include <vector>

struct Sale {
    std::string store;   // 店舗コード
    std::string item;    // 商品名
    int quantity;
    long unit_price;     // 単価（円）

    long amount() const { return quantity * unit_price; }
};

static std::vector<Sale> sample_data() {
    return {
        {"S01", "緑茶",       12, 130},
        {"S02", "おにぎり",   30, 150},
        {"S01", "弁当",        8, 540},
        {"S03", "緑茶",       20, 130},
        {"S02", "弁当",       15, 540},
        {"S03", "サンドイッチ", 9, 320},
        {"S01", "おにぎり",   25, 150},
        {"S02", "緑茶",        0, 130},  // 数量 0 の明細（返品の取消など）
    };
}

int main() {
    auto sales = sample_data();

    // 1. 数量 0 の明細を取り除く（erase-remove イディオム）
    sales.erase(std::remove_if(sales.begin(), sales.end(),
                               [](const Sale& s) { return s.quantity == 0; }),
                sales.end());

    // 2. 総売上を accumulate で求める。初期値を 0L にして long で計算させる
    const long total = std::accumulate(
        sales.begin(), sales.end(), 0L,
        [](long acc, const Sale& s) { return acc + s.amount(); });

    // 3. 店舗別の小計。map はキー順に並ぶので出力も安定する
    std::map<std::string, long> by_store;
    std::for_each(sales.begin(), sales.end(),
                  [&](const Sale& s) { by_store[s.store] += s.amount(); });

    // 4. 金額の大きい順に上位 3 件だけ欲しいので partial_sort で十分
    std::vector<Sale> top = sales;
    const auto k = std::min<std::size_t>(3, top.size());
    std::partial_sort(top.begin(), top.begin() + k, top.end(),
                      [](const Sale& a, const Sale& b) { return a.amount() > b.amount(); });
    top.resize(k);

    // 5. 単価 300 円以上の商品が一つでもあるか / 全明細が正の数量か
    const bool has_premium = std::any_of(sales.begin(), sales.end(),
                                         [](const Sale& s) { return s.unit_price >= 300; });
    const bool all_positive = std::all_of(sales.begin(), sales.end(),
                                          [](const Sale& s) { return s.quantity > 0; });

    // 6. 商品名の重複を除いた一覧（sort してから unique）
    std::vector<std::string> items;
    std::transform(sales.begin(), sales.end(), std::back_inserter(items),
                   [](const Sale& s) { return s.item; });
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());

    // ---- 出力 ----
    std::cout << "総売上: " << total << " 円\n\n店舗別:\n";
    for (const auto& [store, amount] : by_store) {
        const double share = 100.0 * static_cast<double>(amount) / static_cast<double>(total);
        std::cout << "  " << store << "  " << std::setw(7) << amount << " 円  ("
                  << std::fixed << std::setprecision(1) << share << "%)\n";
    }

    std::cout << "\n上位 " << k << " 件:\n";
    for (const auto& s : top) {
        std::cout << "  " << s.store << " " << s.item << " x" << s.quantity
                  << " = " << s.amount() << " 円\n";
    }

    std::cout << "\n取扱商品 " << items.size() << " 種類\n";
    std::cout << "高単価商品あり: " << (has_premium ? "はい" : "いいえ") << '\n';
    std::cout << "数量チェック: " << (all_positive ? "OK" : "NG") << '\n';
    return 0;
}
