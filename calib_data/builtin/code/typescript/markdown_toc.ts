// Builds a nested table of contents from Markdown headings.
// Handles ATX headings (# Title) and skips anything inside fenced code blocks.

export interface Heading {
  level: number;
  text: string;
  slug: string;
  line: number;
}

export interface TocNode extends Heading {
  children: TocNode[];
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})/;
const ATX = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+\s*)?$/;

/**
 * Turn heading text into an anchor slug.
 * Japanese characters are kept as-is; only punctuation and spaces change.
 */
export function slugify(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[`*_~[\]()]/g, '')
    .replace(/[\s\u3000]+/g, '-')
    .replace(/[!-,./:-@\\^{|}、。！？「」（）]/g, '')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Extract headings, giving duplicate slugs a numeric suffix like GitHub does. */
export function extractHeadings(markdown: string, maxLevel = 3): Heading[] {
  const seen = new Map<string, number>();
  const headings: Heading[] = [];
  let fence: string | null = null;

  markdown.split(/\r?\n/).forEach((raw, index) => {
    const fenceMatch = FENCE.exec(raw);
    if (fenceMatch) {
      const marker = fenceMatch[1];
      if (fence === null) {
        fence = marker;
      } else if (marker[0] === fence[0] && marker.length >= fence.length) {
        fence = null;
      }
      return;
    }
    if (fence !== null) return;

    const m = ATX.exec(raw);
    if (!m) return;
    const level = m[1].length;
    if (level > maxLevel) return;

    const text = m[2].trim();
    const base = slugify(text) || 'section';
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    const slug = count === 0 ? base : `${base}-${count}`;
    headings.push({ level, text, slug, line: index + 1 });
  });

  return headings;
}

/**
 * Nest flat headings into a tree. A heading that skips levels
 * (e.g. h1 followed directly by h3) is attached to the closest shallower parent.
 */
export function buildTree(headings: readonly Heading[]): TocNode[] {
  const root: TocNode[] = [];
  const stack: TocNode[] = [];

  for (const h of headings) {
    const node: TocNode = { ...h, children: [] };
    while (stack.length > 0 && stack[stack.length - 1].level >= h.level) {
      stack.pop();
    }
    const parent = stack[stack.length - 1];
    (parent ? parent.children : root).push(node);
    stack.push(node);
  }
  return root;
}

export function renderToc(nodes: readonly TocNode[], depth = 0): string {
  return nodes
    .map((n) => {
      const line = `${'  '.repeat(depth)}- [${n.text}](#${n.slug})`;
      const sub = n.children.length ? '\n' + renderToc(n.children, depth + 1) : '';
      return line + sub;
    })
    .join('\n');
}

// Example
const sample = [
  '# 導入ガイド',
  '## インストール',
  '```bash',
  '# this is a shell comment, not a heading',
  '```',
  '## 設定',
  '### Environment variables',
  '## 設定',
].join('\n');

console.log(renderToc(buildTree(extractHeadings(sample))));
