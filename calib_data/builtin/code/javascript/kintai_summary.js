'use strict';

/**
 * 勤怠打刻データから月次の集計を行うモジュール。
 *
 * 打刻は { date: 'YYYY-MM-DD', in: 'HH:mm', out: 'HH:mm', breakMin: number } の配列。
 * 退勤が翌日にまたがる場合は out に '25:30' のように 24 時以降の表記で入る。
 */

const STANDARD_MINUTES = 8 * 60; // 所定労働時間（1 日 8 時間）
const NIGHT_START = 22 * 60;     // 深夜帯の開始 22:00
const NIGHT_END = 29 * 60;       // 深夜帯の終了 翌 5:00

/**
 * 'HH:mm' を 0 時からの分数に変換する。
 * @param {string} hhmm
 * @returns {number}
 */
function toMinutes(hhmm) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  if (!m) throw new Error(`時刻の形式が不正です: ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** 分数を 'H:mm' 形式の文字列にする */
function formatMinutes(total) {
  const sign = total < 0 ? '-' : '';
  const abs = Math.abs(total);
  return `${sign}${Math.floor(abs / 60)}:${String(abs % 60).padStart(2, '0')}`;
}

/** 2 つの区間 [a1, a2) と [b1, b2) の重なり（分） */
function overlap(a1, a2, b1, b2) {
  return Math.max(0, Math.min(a2, b2) - Math.max(a1, b1));
}

/**
 * 1 日分の打刻を計算する。
 * 休憩は深夜帯以外で取ったものとして扱う（簡略化）。
 */
function calcDay(record) {
  const start = toMinutes(record.in);
  const end = toMinutes(record.out);
  if (end <= start) {
    throw new Error(`${record.date}: 退勤が出勤より前になっています`);
  }
  const worked = end - start - (record.breakMin || 0);
  const night = overlap(start, end, NIGHT_START, NIGHT_END);
  return {
    date: record.date,
    worked,
    overtime: Math.max(0, worked - STANDARD_MINUTES),
    night,
    weekend: [0, 6].includes(new Date(`${record.date}T00:00:00`).getDay()),
  };
}

/**
 * 月次集計。休日出勤は残業とは別に集計する。
 * @param {Array<object>} records
 */
function summarizeMonth(records) {
  const days = records.map(calcDay);
  const sum = (list, key) => list.reduce((acc, d) => acc + d[key], 0);
  const weekdays = days.filter((d) => !d.weekend);
  const holidays = days.filter((d) => d.weekend);

  const summary = {
    workDays: days.length,
    totalWorked: sum(days, 'worked'),
    overtime: sum(weekdays, 'overtime'),
    holidayWork: sum(holidays, 'worked'),
    night: sum(days, 'night'),
  };

  // 36 協定の目安（月 45 時間）を超えそうなら警告を付ける
  const warnings = [];
  if (summary.overtime + summary.holidayWork > 45 * 60) {
    warnings.push('時間外労働が月 45 時間を超えています');
  } else if (summary.overtime > 40 * 60) {
    warnings.push('時間外労働が月 40 時間に近づいています');
  }
  return { ...summary, warnings };
}

module.exports = { toMinutes, formatMinutes, calcDay, summarizeMonth };

if (require.main === module) {
  const sample = [
    { date: '2024-04-01', in: '09:00', out: '18:00', breakMin: 60 },
    { date: '2024-04-02', in: '09:30', out: '21:15', breakMin: 60 },
    { date: '2024-04-03', in: '13:00', out: '23:30', breakMin: 45 },
    { date: '2024-04-06', in: '10:00', out: '15:00', breakMin: 30 },
  ];
  const s = summarizeMonth(sample);
  console.log(`出勤日数: ${s.workDays} 日`);
  console.log(`総労働時間: ${formatMinutes(s.totalWorked)}`);
  console.log(`残業: ${formatMinutes(s.overtime)} / 休日出勤: ${formatMinutes(s.holidayWork)}`);
  console.log(`深夜: ${formatMinutes(s.night)}`);
  s.warnings.forEach((w) => console.log(`警告: ${w}`));
}
