/**
 * Small DOM helpers for the signup form.
 * No framework: these run directly in the browser as an ES module.
 */

const DEFAULT_DEBOUNCE_MS = 250;

/**
 * Query a single element and fail loudly if it is missing.
 * @param {string} selector
 * @param {ParentNode} [root=document]
 * @returns {Element}
 */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) {
    throw new Error(`Element not found: ${selector}`);
  }
  return el;
}

/**
 * Create an element with attributes and children in one call.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node|string)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'className') {
      el.className = value;
    } else {
      el.setAttribute(key, value);
    }
  }
  for (const child of children) {
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** Delay a function until the user stops typing. */
export function debounce(fn, wait = DEFAULT_DEBOUNCE_MS) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

// Each rule returns an error message, or an empty string when the value is fine.
const rules = {
  required: (v) => (v.trim() === '' ? '入力してください' : ''),
  email: (v) => (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) ? '' : 'メールアドレスの形式が正しくありません'),
  minlen: (v, n) => (v.length >= Number(n) ? '' : `${n}文字以上で入力してください`),
  digits: (v) => (/^\d*$/.test(v) ? '' : '数字のみで入力してください'),
};

/**
 * Validate one input based on its data-rules attribute,
 * e.g. data-rules="required|minlen:8".
 * @param {HTMLInputElement} input
 * @returns {string} first error message, or ''
 */
export function validateField(input) {
  const spec = input.dataset.rules || '';
  for (const part of spec.split('|').filter(Boolean)) {
    const [name, arg] = part.split(':');
    const rule = rules[name];
    if (!rule) {
      console.warn(`Unknown rule "${name}" on #${input.id}`);
      continue;
    }
    const message = rule(input.value, arg);
    if (message) return message;
  }
  return '';
}

function showError(input, message) {
  let hint = input.nextElementSibling;
  if (!hint || !hint.classList.contains('field-error')) {
    hint = h('p', { className: 'field-error', 'aria-live': 'polite' });
    input.after(hint);
  }
  hint.textContent = message;
  input.setAttribute('aria-invalid', message ? 'true' : 'false');
}

/**
 * Wire live validation onto a form. Returns a cleanup function.
 * @param {HTMLFormElement} form
 */
export function attachValidation(form) {
  const inputs = Array.from(form.querySelectorAll('[data-rules]'));
  const onInput = debounce((event) => {
    showError(event.target, validateField(event.target));
  });
  const onSubmit = (event) => {
    let firstInvalid = null;
    for (const input of inputs) {
      const message = validateField(input);
      showError(input, message);
      if (message && !firstInvalid) firstInvalid = input;
    }
    if (firstInvalid) {
      event.preventDefault();
      firstInvalid.focus();
    }
  };

  inputs.forEach((input) => input.addEventListener('input', onInput));
  form.addEventListener('submit', onSubmit);

  return () => {
    inputs.forEach((input) => input.removeEventListener('input', onInput));
    form.removeEventListener('submit', onSubmit);
  };
}
