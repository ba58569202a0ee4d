// 管理画面向けの小さなスキーマ検証（外部ライブラリなしで必要最低限だけ実装）。

/** 検証エラー 1 件分 */
export interface Issue {
  path: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** unknown を受け取り、T の値か問題点の一覧を返す検証器 */
export interface Validator<T> {
  check(input: unknown, path?: string): Result<T>;
}

/** Validator から値の型を取り出すためのユーティリティ型 */
export type Infer<V> = V extends Validator<infer T> ? T : never;

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = (path: string, message: string): { ok: false; issues: Issue[] } => ({
  ok: false,
  issues: [{ path: path || '(root)', message }],
});

export const str = (opts: { min?: number; max?: number; pattern?: RegExp } = {}): Validator<string> => ({
  check(input, path = '') {
    if (typeof input !== 'string') return fail(path, '文字列で入力してください');
    const len = Array.from(input).length; // サロゲートペアも 1 文字として数える
    if (opts.min !== undefined && len < opts.min) return fail(path, `${opts.min}文字以上必要です`);
    if (opts.max !== undefined && len > opts.max) return fail(path, `${opts.max}文字以内にしてください`);
    if (opts.pattern && !opts.pattern.test(input)) return fail(path, '形式が正しくありません');
    return ok(input);
  },
});

export const int = (opts: { min?: number; max?: number } = {}): Validator<number> => ({
  check(input, path = '') {
    if (typeof input !== 'number' || !Number.isInteger(input)) return fail(path, '整数で入力してください');
    if (opts.min !== undefined && input < opts.min) return fail(path, `${opts.min}以上を指定してください`);
    if (opts.max !== undefined && input > opts.max) return fail(path, `${opts.max}以下を指定してください`);
    return ok(input);
  },
});

export const oneOf = <const T extends readonly string[]>(choices: T): Validator<T[number]> => ({
  check(input, path = '') {
    return typeof input === 'string' && choices.includes(input)
      ? ok(input as T[number])
      : fail(path, `次のいずれかを指定してください: ${choices.join(', ')}`);
  },
});

export const array = <T>(item: Validator<T>): Validator<T[]> => ({
  check(input, path = '') {
    if (!Array.isArray(input)) return fail(path, '配列で指定してください');
    const values: T[] = [];
    const issues: Issue[] = [];
    input.forEach((el, i) => {
      const r = item.check(el, `${path}[${i}]`);
      if (r.ok) values.push(r.value);
      else issues.push(...r.issues);
    });
    return issues.length ? { ok: false, issues } : ok(values);
  },
});

/** オブジェクトの各プロパティを検証する。エラーはすべて集めて返す。 */
export const object = <S extends Record<string, Validator<unknown>>>(
  shape: S,
): Validator<{ [K in keyof S]: Infer<S[K]> }> => ({
  check(input, path = '') {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return fail(path, 'オブジェクトで指定してください');
    }
    const record = input as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const issues: Issue[] = [];
    for (const key of Object.keys(shape)) {
      const r = shape[key].check(record[key], path ? `${path}.${key}` : key);
      if (r.ok) out[key] = r.value;
      else issues.push(...r.issues);
    }
    return issues.length ? { ok: false, issues } : ok(out as { [K in keyof S]: Infer<S[K]> });
  },
});

// 利用例: 社員登録フォーム
export const employeeSchema = object({
  employeeNo: str({ pattern: /^E\d{5}$/ }),
  displayName: str({ min: 1, max: 20 }),
  department: oneOf(['営業', '開発', '総務'] as const),
  age: int({ min: 18, max: 80 }),
  skills: array(str({ max: 30 })),
});

export type Employee = Infer<typeof employeeSchema>;
