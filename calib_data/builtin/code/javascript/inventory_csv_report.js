#!/usr/bin/env node
'use strict';

// 在庫 CSV を読み込んで、発注が必要な商品の一覧を出力するスクリプト。
// 使い方: node inventory_csv_report.js stock.csv [--threshold=1.5]
//
// CSV の列: 商品コード,商品名,倉庫,在庫数,日販数
// 在庫日数（在庫数 ÷ 日販数）が閾値を下回ったら「要発注」とみなす。

const fs = require('fs');
const path = require('path');

/**
 * ダブルクォートに対応した 1 行分の CSV パーサ。
 * 項目内の改行には対応していない（在庫データでは出てこないため）。
 * @param {string} line
 * @returns {string[]}
 */
function parseCsvLine(line) {
  const fields = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  fields.push(cur);
  return fields;
}

function parseArgs(argv) {
  const opts = { file: null, threshold: 3 };
  for (const arg of argv) {
    if (arg.startsWith('--threshold=')) {
      opts.threshold = Number(arg.split('=')[1]);
    } else {
      opts.file = arg;
    }
  }
  return opts;
}

/** 商品コードごとに倉庫をまたいで在庫を合算する */
function aggregate(rows) {
  const byCode = new Map();
  for (const [code, name, , qty, dailySales] of rows) {
    const entry = byCode.get(code) || { code, name, qty: 0, dailySales: 0 };
    entry.qty += Number(qty) || 0;
    // 日販は倉庫ごとに同じ値が入っているので最大値を採用する
    entry.dailySales = Math.max(entry.dailySales, Number(dailySales) || 0);
    byCode.set(code, entry);
  }
  return [...byCode.values()];
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts.file) {
    console.error('CSV ファイルを指定してください');
    process.exit(1);
  }

  const text = fs.readFileSync(path.resolve(opts.file), 'utf8').replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const rows = lines.slice(1).map(parseCsvLine);

  const items = aggregate(rows).map((e) => ({
    ...e,
    days: e.dailySales > 0 ? e.qty / e.dailySales : Infinity,
  }));

  const shortage = items
    .filter((e) => e.days < opts.threshold)
    .sort((a, b) => a.days - b.days);

  console.log(`読み込み件数: ${rows.length} 行 / 商品数: ${items.length}`);
  console.log(`在庫日数 ${opts.threshold} 日未満の商品: ${shortage.length} 件\n`);
  for (const e of shortage) {
    const days = e.days.toFixed(1).padStart(5);
    console.log(`${e.code}\t${days} 日\t${e.qty} 個\t${e.name}`);
  }

  if (shortage.some((e) => e.qty === 0)) {
    console.log('\n※ 在庫ゼロの商品があります。至急確認してください。');
  }
}

main();
