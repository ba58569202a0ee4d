/**
 * 西暦と和暦の相互変換。
 *
 * 元号の切り替わりは日単位で判定する（例: 2019-04-30 までは平成、2019-05-01 から令和）。
 * 明治より前の日付は対象外とする。
 */

export type EraName = '明治' | '大正' | '昭和' | '平成' | '令和';

interface Era {
  readonly name: EraName;
  readonly short: string;
  /** 元年の開始日（YYYY-MM-DD） */
  readonly start: string;
}

// 新しい元号から順に並べておくと、判定時に最初に見つかったものを使える
const ERAS: readonly Era[] = [
  { name: '令和', short: 'R', start: '2019-05-01' },
  { name: '平成', short: 'H', start: '1989-01-08' },
  { name: '昭和', short: 'S', start: '1926-12-25' },
  { name: '大正', short: 'T', start: '1912-07-30' },
  { name: '明治', short: 'M', start: '1868-01-25' },
];

export interface WarekiDate {
  era: EraName;
  year: number;
  month: number;
  day: number;
}

const pad = (n: number): string => String(n).padStart(2, '0');

function toIso(y: number, m: number, d: number): string {
  return `${String(y).padStart(4, '0')}-${pad(m)}-${pad(d)}`;
}

/**
 * 西暦の年月日を和暦に変換する。
 * @throws RangeError 明治より前の日付の場合
 */
export function toWareki(year: number, month: number, day: number): WarekiDate {
  const iso = toIso(year, month, day);
  // ISO 形式の文字列同士は辞書順比較で日付の前後が判定できる
  const era = ERAS.find((e) => iso >= e.start);
  if (!era) {
    throw new RangeError(`${iso} は変換できる範囲外です`);
  }
  const startYear = Number(era.start.slice(0, 4));
  return { era: era.name, year: year - startYear + 1, month, day };
}

/** 「令和6年4月1日」形式。1 年目は「元年」と表記する。 */
export function formatWareki(w: WarekiDate, useGannen = true): string {
  const y = w.year === 1 && useGannen ? '元' : String(w.year);
  return `${w.era}${y}年${w.month}月${w.day}日`;
}

const WAREKI_PATTERN = /^(明治|大正|昭和|平成|令和|[MTSHR])\s*(元|\d{1,2})[年.\/-](\d{1,2})[月.\/-](\d{1,2})日?$/;

/**
 * 和暦の文字列を解析して西暦の Date を返す。
 * 「平成31年4月30日」「R6.4.1」「令和元年5月1日」などに対応する。
 * 全角数字は事前に半角へ変換しておくこと。
 */
export function parseWareki(text: string): Date {
  const m = WAREKI_PATTERN.exec(text.trim());
  if (!m) {
    throw new SyntaxError(`和暦として解釈できません: ${text}`);
  }
  const [, eraToken, yearToken, monthToken, dayToken] = m;
  const era = ERAS.find((e) => e.name === eraToken || e.short === eraToken.toUpperCase());
  if (!era) {
    throw new SyntaxError(`不明な元号です: ${eraToken}`);
  }
  const eraYear = yearToken === '元' ? 1 : Number(yearToken);
  const year = Number(era.start.slice(0, 4)) + eraYear - 1;
  const month = Number(monthToken);
  const day = Number(dayToken);

  const date = new Date(year, month - 1, day);
  if (date.getMonth() !== month - 1 || date.getDate() !== day) {
    throw new RangeError(`存在しない日付です: ${text}`);
  }
  // 元号の期間外（例: 平成32年、令和元年4月1日）を弾く
  const actual = toWareki(year, month, day);
  if (actual.era !== era.name) {
    throw new RangeError(`${text} は${era.name}の期間外です（正しくは${formatWareki(actual)}）`);
  }
  return date;
}

// 例:
// formatWareki(toWareki(2019, 5, 1))  => "令和元年5月1日"
// parseWareki('H31.4.30')             => 2019-04-30
