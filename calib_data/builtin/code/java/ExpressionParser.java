package calc.expr;

import java.util.Map;
import java.util.function.DoubleUnaryOperator;

/**
 * Recursive-descent parser and evaluator for arithmetic expressions.
 *
 * <p>Grammar (lowest precedence first):</p>
 * <pre>
 *   expr    := term (('+' | '-') term)*
 *   term    := factor (('*' | '/') factor)*
 *   factor  := unary ('^' factor)?          right-associative
 *   unary   := '-' unary | primary
 *   primary := number | name | name '(' expr ')' | '(' expr ')'
 * </pre>
 */
public final class ExpressionParser {

    /** Thrown for malformed input; the message includes the offending position. */
    public static final class ParseException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ParseException(String message, int position) {
            super(message + " at position " + position);
        }
    }

    private static final Map<String, DoubleUnaryOperator> FUNCTIONS = Map.of(
            "sqrt", Math::sqrt,
            "floor", Math::floor);

    private final String src;
    private final Map<String, Double> variables;
    private int pos;

    private ExpressionParser(String src, Map<String, Double> variables) {
        this.src = src;
        this.variables = variables;
    }

    /** Evaluate {@code source} with the given variable bindings. */
    public static double evaluate(String source, Map<String, Double> variables) {
        ExpressionParser p = new ExpressionParser(source, variables);
        double value = p.expr();
        p.skipSpaces();
        if (p.pos < p.src.length()) {
            throw new ParseException("unexpected '" + p.src.charAt(p.pos) + "'", p.pos);
        }
        return value;
    }

    private double expr() {
        double left = term();
        while (true) {
            if (accept('+')) left += term();
            else if (accept('-')) left -= term();
            else return left;
        }
    }

    private double term() {
        double left = factor();
        while (true) {
            if (accept('*')) {
                left *= factor();
            } else if (accept('/')) {
                int at = pos;
                double right = factor();
                if (right == 0.0) throw new ParseException("division by zero", at);
                left /= right;
            } else {
                return left;
            }
        }
    }

    private double factor() {
        double base = unary();
        return accept('^') ? Math.pow(base, factor()) : base;
    }

    private double unary() {
        return accept('-') ? -unary() : primary();
    }

    private double primary() {
        skipSpaces();
        int start = pos;
        if (accept('(')) {
            double inner = expr();
            expect(')');
            return inner;
        }
        if (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '.')) {
            while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '.')) {
                pos++;
            }
            String text = src.substring(start, pos);
            try {
                return Double.parseDouble(text);
            } catch (NumberFormatException e) {
                throw new ParseException("bad number '" + text + "'", start);
            }
        }
        if (pos < src.length() && Character.isLetter(src.charAt(pos))) {
            while (pos < src.length() && Character.isLetterOrDigit(src.charAt(pos))) {
                pos++;
            }
            String name = src.substring(start, pos);
            DoubleUnaryOperator fn = FUNCTIONS.get(name);
            if (fn != null) {
                expect('(');
                double arg = expr();
                expect(')');
                return fn.applyAsDouble(arg);
            }
            Double v = variables.get(name);
            if (v == null) throw new ParseException("unknown variable '" + name + "'", start);
            return v;
        }
        throw new ParseException(pos < src.length() ? "unexpected '" + src.charAt(pos) + "'" : "unexpected end", pos);
    }

    private boolean accept(char c) {
        skipSpaces();
        if (pos < src.length() && src.charAt(pos) == c) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(char c) {
        if (!accept(c)) throw new ParseException("expected '" + c + "'", pos);
    }

    private void skipSpaces() {
        while (pos < src.length() && Character.isWhitespace(src.charAt(pos))) pos++;
    }

    public static void main(String[] args) {
        Map<String, Double> vars = Map.of("price", 1280.0, "qty", 3.0);
        String[] samples = {"1 + 2 * 3", "-(2 ^ 3 ^ 2) / 8", "floor(price * qty * 1.1)", "sqrt(16) + (3"};
        for (String s : samples) {
            try {
                System.out.println(s + " = " + evaluate(s, vars));
            } catch (ParseException e) {
                System.out.println(s + " -> error: " + e.getMessage());
            }
        }
    }
}
