// expr_tree.cpp
// 数式の構文木を小さなクラス階層で表す。
//   Expr（抽象基底）
//    ├─ Num      … 定数
//    ├─ Var      … 変数（環境から値を引く）
//    └─ Binary   … 二項演算（Add / Mul の共通部分）
// 評価・文字列化・微分を仮想関数として持たせる。

#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

using Env = std::map<std::string, double>;

class Expr {
public:
    virtual ~Expr() = default;  // 基底クラスのデストラクタは必ず virtual に
    virtual double eval(const Env& env) const = 0;
    virtual std::string str() const = 0;
    // x で微分した新しい式を返す
    virtual std::unique_ptr<Expr> diff(const std::string& x) const = 0;
    virtual std::unique_ptr<Expr> clone() const = 0;
};

using ExprPtr = std::unique_ptr<Expr>;

class Num final : public Expr {
public:
    explicit Num(double v) : v_(v) {}
    double eval(const Env&) const override { return v_; }
    std::string str() const override {
        std::ostringstream os;  // to_string だと 3.000000 になるため
        os << v_;
        return os.str();
    }
    ExprPtr diff(const std::string&) const override { return std::make_unique<Num>(0); }
    ExprPtr clone() const override { return std::make_unique<Num>(v_); }

private:
    double v_;
};

class Var final : public Expr {
public:
    explicit Var(std::string name) : name_(std::move(name)) {}
    double eval(const Env& env) const override {
        auto it = env.find(name_);
        if (it == env.end()) throw std::runtime_error("未定義の変数: " + name_);
        return it->second;
    }
    std::string str() const override { return name_; }
    ExprPtr diff(const std::string& x) const override {
        return std::make_unique<Num>(name_ == x ? 1 : 0);
    }
    ExprPtr clone() const override { return std::make_unique<Var>(name_); }

private:
    std::string name_;
};

// 左右の子を所有し、演算子の記号だけ派生側が決める
class Binary : public Expr {
public:
    Binary(ExprPtr l, ExprPtr r) : l_(std::move(l)), r_(std::move(r)) {}
    std::string str() const override {
        return "(" + l_->str() + " " + op() + " " + r_->str() + ")";
    }

protected:
    virtual const char* op() const = 0;
    ExprPtr l_, r_;
};

class Add final : public Binary {
public:
    using Binary::Binary;
    double eval(const Env& e) const override { return l_->eval(e) + r_->eval(e); }
    ExprPtr diff(const std::string& x) const override {
        return std::make_unique<Add>(l_->diff(x), r_->diff(x));
    }
    ExprPtr clone() const override { return std::make_unique<Add>(l_->clone(), r_->clone()); }

protected:
    const char* op() const override { return "+"; }
};

class Mul final : public Binary {
public:
    using Binary::Binary;
    double eval(const Env& e) const override { return l_->eval(e) * r_->eval(e); }
    // 積の微分法則: (fg)' = f'g + fg'
    ExprPtr diff(const std::string& x) const override {
        return std::make_unique<Add>(
            std::make_unique<Mul>(l_->diff(x), r_->clone()),
            std::make_unique<Mul>(l_->clone(), r_->diff(x)));
    }
    ExprPtr clone() const override { return std::make_unique<Mul>(l_->clone(), r_->clone()); }

protected:
    const char* op() const override { return "*"; }
};

int main() {
    using std::make_unique;
    // f(x, y) = 3 * x * x + y
    ExprPtr f = make_unique<Add>(
        make_unique<Mul>(make_unique<Num>(3),
                         make_unique<Mul>(make_unique<Var>("x"), make_unique<Var>("x"))),
        make_unique<Var>("y"));

    Env env{{"x", 2.0}, {"y", 5.0}};
    ExprPtr df = f->diff("x");

    std::cout << "f      = " << f->str() << "\n";
    std::cout << "f(2,5) = " << f->eval(env) << "\n";
    std::cout << "df/dx  = " << df->str() << "\n";
    std::cout << "値     = " << df->eval(env) << "\n";  // 6x なので 12
}
