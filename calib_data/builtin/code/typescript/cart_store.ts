/**
 * ショッピングカートの状態管理。
 * UI ライブラリには依存せず、reducer と購読の仕組みだけを提供する。
 */

export interface Product {
  readonly sku: string;
  readonly name: string;
  /** 税抜き単価（円） */
  readonly price: number;
  /** 軽減税率の対象か（食品など） */
  readonly reducedTax: boolean;
}

export interface CartLine {
  readonly product: Product;
  readonly quantity: number;
}

export interface CartState {
  readonly lines: readonly CartLine[];
  readonly couponCode: string | null;
}

export type CartAction =
  | { type: 'add'; product: Product; quantity?: number }
  | { type: 'setQuantity'; sku: string; quantity: number }
  | { type: 'remove'; sku: string }
  | { type: 'applyCoupon'; code: string }
  | { type: 'clear' };

export const initialCart: CartState = { lines: [], couponCode: null };

/** 1 商品あたりの購入上限 */
const MAX_QTY = 99;

const clampQty = (n: number): number => Math.max(0, Math.min(MAX_QTY, Math.trunc(n)));

/**
 * 状態を直接書き換えず、常に新しいオブジェクトを返す reducer。
 */
export function cartReducer(state: CartState, action: CartAction): CartState {
  switch (action.type) {
    case 'add': {
      const qty = action.quantity ?? 1;
      const exists = state.lines.some((l) => l.product.sku === action.product.sku);
      const lines = exists
        ? state.lines.map((l) =>
            l.product.sku === action.product.sku
              ? { ...l, quantity: clampQty(l.quantity + qty) }
              : l,
          )
        : [...state.lines, { product: action.product, quantity: clampQty(qty) }];
      return { ...state, lines };
    }
    case 'setQuantity': {
      const lines = state.lines
        .map((l) => (l.product.sku === action.sku ? { ...l, quantity: clampQty(action.quantity) } : l))
        .filter((l) => l.quantity > 0); // 0 個になった行は削除する
      return { ...state, lines };
    }
    case 'remove':
      return { ...state, lines: state.lines.filter((l) => l.product.sku !== action.sku) };
    case 'applyCoupon':
      return { ...state, couponCode: action.code.trim().toUpperCase() || null };
    case 'clear':
      return initialCart;
    default: {
      // 新しいアクションを追加したときに処理漏れをコンパイルエラーにする
      const unreachable: never = action;
      return unreachable;
    }
  }
}

export interface CartTotals {
  subtotal: number;
  tax: number;
  discount: number;
  total: number;
}

/** 税率ごとに合計してから消費税を計算する（端数は切り捨て） */
export function calcTotals(state: CartState): CartTotals {
  let standard = 0;
  let reduced = 0;
  for (const { product, quantity } of state.lines) {
    const amount = product.price * quantity;
    if (product.reducedTax) reduced += amount;
    else standard += amount;
  }
  const subtotal = standard + reduced;
  const tax = Math.floor(standard * 0.1) + Math.floor(reduced * 0.08);
  // クーポンは税抜き 5,000 円以上で 500 円引き（デモ用の固定ルール）
  const discount = state.couponCode === 'WELCOME500' && subtotal >= 5000 ? 500 : 0;
  return { subtotal, tax, discount, total: subtotal + tax - discount };
}

type Listener = (state: CartState) => void;

/** 最小限のストア。画面側は subscribe して再描画する。 */
export function createCartStore(initial: CartState = initialCart) {
  let state = initial;
  const listeners = new Set<Listener>();
  return {
    getState: (): CartState => state,
    dispatch(action: CartAction): void {
      const next = cartReducer(state, action);
      if (next === state) return;
      state = next;
      listeners.forEach((fn) => fn(state));
    },
    subscribe(fn: Listener): () => void {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
