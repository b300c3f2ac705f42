// Small DOM helpers shared by the pages: building elements, tables, forms whose errors show
// next to the control that caused them, times in UTC, and the searchable camera picker.

/**
 * `h('button', { class: 'x', onclick: f }, 'Label')`: an element with attributes and children.
 * `value`, `checked` and `selected` are set as attributes, so they are also what a form's
 * `reset()` returns to.
 */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false));
  return e;
}

/** A page's title (focusable, so navigation moves focus to it for screen readers). */
export function pageTitle(text) {
  return h('h1', { tabindex: '-1', id: 'page-title' }, text);
}

/** A table with a caption-less header row; `render(row)` returns the cells of one row. */
export function table(id, headers, rows, render, empty = 'Nothing to show.') {
  const t = h('table', { id }, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))));
  const body = h('tbody');
  fillBody(body, rows, render, headers.length, empty);
  t.append(body);
  shownRows.set(t, JSON.stringify(rows));
  return t;
}

const shownRows = new WeakMap(); // table → the JSON of the rows it shows

/**
 * Replaces a table's rows when they changed (a refresh that finds nothing new leaves the table,
 * and the user's focus in it, alone). When a control inside the table had focus, the control
 * with the same label in the new rows gets it back.
 */
export function refill(tableEl, rows, render, empty = 'Nothing to show.') {
  const json = JSON.stringify(rows);
  if (shownRows.get(tableEl) === json) return;
  shownRows.set(tableEl, json);
  const body = tableEl.querySelector('tbody');
  const focused = body.contains(document.activeElement) ? document.activeElement : null;
  const key = focused && (focused.getAttribute('aria-label') || focused.textContent);
  fillBody(body, rows, render, tableEl.querySelectorAll('thead th').length, empty);
  if (focused) {
    const again = [...body.querySelectorAll(focused.tagName)].find((e) => (e.getAttribute('aria-label') || e.textContent) === key);
    if (again) again.focus();
  }
}

/** Whether the user is changing something in `el`: a control has focus or an unsaved change. */
export function editing(el) {
  return [...el.querySelectorAll('input, textarea, select')].some((c) => c === document.activeElement || changed(c));
}

function changed(c) {
  if (c.tagName === 'SELECT') return [...c.options].some((o) => o.selected !== o.defaultSelected);
  if (c.type === 'checkbox' || c.type === 'radio') return c.checked !== c.defaultChecked;
  return c.value !== c.defaultValue;
}

function fillBody(body, rows, render, columns, empty) {
  if (!rows.length) {
    body.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: columns, class: 'muted' }, empty)));
    return;
  }
  body.replaceChildren(...rows.map((row) => h('tr', {}, render(row).map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c ?? ''))))));
}

/** A labelled control: `field('Case number', h('input', { name: 'case_number', required: true }))`. */
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('span', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/**
 * A form whose submit runs `action(values, form)` with a busy state, and shows any error next
 * to the control the API named (or the submit button), in words for the user. `values` maps
 * each named control to its value (checkboxes to booleans).
 */
export function form(attrs, children, action, submitLabel) {
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit' }, submitLabel);
  const f = h('form', attrs, children, h('div', { class: 'actions' }, button), error);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(f);
    button.disabled = true;
    f.setAttribute('aria-busy', 'true');
    try {
      await action(values(f), f);
    } catch (e) {
      showError(f, e);
    } finally {
      button.disabled = false;
      f.removeAttribute('aria-busy');
    }
  });
  return f;
}

export function values(f) {
  const out = {};
  for (const el of f.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value;
  }
  return out;
}

function clearErrors(f) {
  f.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  f.querySelectorAll('.field-error').forEach((e) => e.remove());
  const err = f.querySelector(':scope > .error');
  if (err) err.textContent = '';
}

/**
 * Shows `e` in form `f`: next to the control whose name the message mentions (the API names
 * the field it refuses, e.g. "case_number is required"), else at the form's end.
 */
export function showError(f, e) {
  const msg = e && e.message ? e.message : String(e);
  const words = new Set(msg.split(/[^A-Za-z0-9_]+/));
  const named = [...f.elements].find((el) => el.name && words.has(el.name) && el.closest('.field'));
  if (named) {
    named.setAttribute('aria-invalid', 'true');
    const id = `${named.id}-error`;
    named.closest('.field')?.append(h('span', { class: 'field-error error', id, role: 'alert' }, msg));
    named.setAttribute('aria-describedby', [named.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    named.focus();
    return;
  }
  const err = f.querySelector(':scope > .error');
  if (err) err.textContent = msg;
}

/**
 * A status line for actions outside forms (buttons in tables): `say(el, text)` announces a
 * success, `say(el, text, true)` an error.
 */
export function status(id) {
  return h('p', { class: 'note', role: 'status', id });
}

export function say(el, text, error = false) {
  el.className = error ? 'note error' : 'note ok';
  el.textContent = text;
}

// ---- time: the UI works in UTC, as the evidence does ----

export const utc = (us) => (us === null || us === undefined ? '' : new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19));
/** The value for an `<input type="datetime-local">` showing `us` in UTC. */
export const inputUtc = (us) => new Date(us / 1000).toISOString().slice(0, 19);
/** Microseconds UTC from an `<input type="datetime-local">` read as UTC; NaN if empty. */
export const fromInputUtc = (v) => Date.parse(`${v.length === 16 ? `${v}:00` : v}Z`) * 1000;

/**
 * A time range input pair, defaulting to the last `minutes`. The inputs hold whole seconds:
 * the start is rounded up and the end down, so the range never reaches outside the one given
 * (e.g. an approved request's).
 */
export function rangeFields(prefix, minutes = 60, start, end) {
  const now = Date.now() * 1000;
  const s0 = Math.ceil((start ?? now - minutes * 60e6) / 1e6) * 1e6;
  const e0 = Math.floor((end ?? now) / 1e6) * 1e6;
  const s = h('input', { type: 'datetime-local', step: '1', name: 'start', id: `${prefix}-start`, required: true, value: inputUtc(s0) });
  const e = h('input', { type: 'datetime-local', step: '1', name: 'end', id: `${prefix}-end`, required: true, value: inputUtc(e0) });
  return [field('From (UTC)', s), field('To (UTC)', e)];
}

/**
 * Cameras picked by name from a searchable list (never typed ids): a filter box and a
 * checkbox (or radio) per camera. `picked()` returns the chosen ids.
 */
export function cameraPicker(cameras, { name = 'cameras', multiple = true, label = 'Cameras', chosen = [] } = {}) {
  const id = `pick-${name}`;
  const filter = h('input', { type: 'search', id: `${id}-filter`, 'aria-controls': `${id}-list`, placeholder: 'Type to filter by name, partner or address' });
  const list = h('div', { class: 'picker-list', id: `${id}-list`, role: 'group', 'aria-label': label });
  const items = cameras.map((c) => {
    const input = h('input', { type: multiple ? 'checkbox' : 'radio', name, value: String(c.id), id: `${id}-${c.id}`, checked: chosen.includes(c.id) });
    const text = `${c.name} — ${c.partner}${c.address ? `, ${c.address}` : ''}`;
    const row = h('div', { class: 'pick' }, input, h('label', { for: input.id }, text));
    return { c, row, input, text: text.toLowerCase() };
  });
  list.append(...items.map((i) => i.row));
  if (!items.length) list.append(h('p', { class: 'muted' }, 'No camera is available.'));
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase();
    for (const i of items) i.row.hidden = q !== '' && !i.text.includes(q);
  });
  const el = h('fieldset', { class: 'picker' }, h('legend', {}, label), h('label', { for: filter.id, class: 'sr-only' }, `Filter ${label.toLowerCase()}`), filter, list);
  return { el, picked: () => items.filter((i) => i.input.checked).map((i) => i.c.id) };
}

/** A progress bar with a text label (the label is what screen readers and tests read). */
export function progress(done, total, label) {
  const pct = total ? Math.floor((100 * done) / total) : 0;
  return h('span', { class: 'progress' }, h('progress', { max: '100', value: String(pct), 'aria-label': label }), ` ${pct}%`);
}
