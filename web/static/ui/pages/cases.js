// Cases: footage requests and evidence exports grouped by case number. `/cases` files a
// request (cameras picked by name) and lists the cases; `/cases/<number>` shows one case's
// requests (with exigent access for supervisors), plays approved footage, exports it with
// a progress bar and download links, and takes submitted footage (`case-submissions.js`).

import { api, can } from '../api.js';
import { h, field, pageTitle, cameraPicker, utc, form, table, refill, rangeFields, fromInputUtc, progress, status, say, editing } from '../dom.js';
import { submissionsSection } from './case-submissions.js';

const followsDenial = (r) => {
  const ids = r.earlier_denied || [];
  return ids.length ? ` — follows denied request ${ids.map((id) => `#${id}`).join(', ')}` : '';
};

export async function render(ctx) {
  const [cams, reqs, exports] = await Promise.all([api('GET', '/api/cameras'), api('GET', '/api/requests'), can('video.export') ? api('GET', '/api/exports') : []]);
  const caseNumber = ctx.rest ? decodeURIComponent(ctx.rest) : null;
  return caseNumber ? showCase(ctx, caseNumber, cams, reqs, exports) : listCases(ctx, cams, reqs, exports);
}

const camName = (cams, id) => (cams.find((c) => c.id === id) || { name: `#${id}` }).name;

function listCases(ctx, cams, reqs, exports) {
  const picker = cameraPicker(cams.filter((c) => c.sharing !== 'registry'), { name: 'cameras', label: 'Cameras' });
  const fileForm = form({ id: 'request-form' }, [
    picker.el,
    h('div', { class: 'inline' }, rangeFields('rq', 60)),
    h('div', { class: 'inline' },
      field('Case number', h('input', { name: 'case_number', id: 'rq-case', required: true })),
      field('Offence', h('input', { name: 'offence', id: 'rq-offence', required: true }))),
    field('Reason', h('textarea', { name: 'reason', id: 'rq-reason', required: true, rows: '2' }), 'Shown to the camera’s partner'),
  ], async (v, f) => {
    const ids = picker.picked();
    if (!ids.length) throw new Error('Choose at least one camera.');
    await api('POST', '/api/requests', {
      cameras: ids, start_us: fromInputUtc(v.start), end_us: fromInputUtc(v.end),
      case_number: v.case_number, offence: v.offence, reason: v.reason,
    });
    f.reset();
    ctx.navigate(`/cases/${encodeURIComponent(v.case_number)}`);
  }, 'File request');

  const cases = new Map();
  for (const r of reqs) {
    const c = cases.get(r.case_number) || { n: r.case_number, requests: [], exports: 0 };
    c.requests.push(r);
    cases.set(r.case_number, c);
  }
  for (const x of exports) {
    const c = cases.get(x.case_number) || { n: x.case_number, requests: [], exports: 0 };
    c.exports += 1;
    cases.set(x.case_number, c);
  }
  const rows = [...cases.values()].sort((a, b) => b.n.localeCompare(a.n));
  const summary = (c) => {
    const by = {};
    for (const r of c.requests) by[r.status] = (by[r.status] || 0) + 1;
    return Object.entries(by).map(([s, n]) => `${n} ${s}`).join(', ');
  };
  const render = (c) => [h('a', { href: `/cases/${encodeURIComponent(c.n)}` }, c.n), c.requests.length, summary(c), c.exports];
  const list = table('cases', ['Case', 'Requests', 'Status', 'Exports'], rows, render, 'No case yet.');
  ctx.view.append(pageTitle('Cases'),
    h('section', { 'aria-labelledby': 'file-title' }, h('h2', { id: 'file-title' }, 'File a footage request'), fileForm),
    h('section', { 'aria-labelledby': 'cases-title' }, h('h2', { id: 'cases-title' }, 'Cases'), list));
  return {
    async refresh(background) {
      const fresh = await api('GET', '/api/requests', undefined, { background });
      const known = new Set(rows.map((c) => c.n));
      for (const r of fresh) if (!known.has(r.case_number)) { rows.unshift({ n: r.case_number, requests: [r], exports: 0 }); known.add(r.case_number); }
      for (const c of rows) c.requests = fresh.filter((r) => r.case_number === c.n);
      refill(list, rows, render, 'No case yet.');
    },
  };
}

function showCase(ctx, n, cams, reqs, exports) {
  const mine = (list) => list.filter((x) => x.case_number === n);
  const note = status('case-status');
  const renderRequest = (r) => {
    const actions = [];
    if (['approved', 'exigent'].includes(r.status) && can('video.playback')) {
      actions.push(h('a', { href: `/recordings?cameras=${r.cameras.join(',')}&from=${r.start_us}&to=${r.end_us}&at=${r.start_us}&case=${encodeURIComponent(n)}` }, `Play request ${r.id}`));
    }
    if (r.status === 'pending' && can('request.exigent')) actions.push(exigentForm(r));
    return [`#${r.id}`, r.investigator, r.cameras.map((id) => camName(cams, id)).join(', '), `${utc(r.start_us)} – ${utc(r.end_us)}`,
      `${r.offence}: ${r.reason}`, h('td', { class: 'status' }, (r.exigent ? `exigent (${r.decided_by}): ${r.decision_note}` : r.status) + followsDenial(r)), h('td', {}, actions)];
  };
  const exigentForm = (r) => form({ class: 'exigent', 'aria-label': `Exigent access to request ${r.id}` }, [
    field('Justification', h('textarea', { name: 'justification', rows: '2', required: true }), 'Shown to the partner and counted in the transparency report'),
  ], async (v) => {
    await api('POST', `/api/requests/${r.id}/exigent`, { justification: v.justification });
    say(note, `Exigent access to request ${r.id} granted; the partner is told.`);
    await refresh(false);
  }, 'Grant exigent access');
  const reqTable = table('requests', ['#', 'Investigator', 'Cameras', 'Range (UTC)', 'Reason', 'Status', ''], mine(reqs), renderRequest, 'No request in this case.');

  const renderExport = (x) => [`#${x.id}`, x.cameras.length ? x.cameras.map((id) => camName(cams, id)).join(', ') : 'submitted files only', `${utc(x.start_us)} – ${utc(x.end_us)}`,
    h('td', { class: 'status' }, x.status === 'running' ? progress(x.bytes_done, x.bytes_total, `Export ${x.id} progress`)
      : x.status === 'failed' ? `failed: ${x.error}` : progress(1, 1, `Export ${x.id} progress`)),
    h('td', {}, x.files.map((f) => [h('a', { href: `/api/exports/${x.id}/files/${encodeURIComponent(f)}`, download: f }, f), ' ']))];
  const expTable = table('exports', ['#', 'Cameras', 'Range (UTC)', 'Status', 'Files'], mine(exports), renderExport, 'No export in this case.');

  const submissions = can('request.file') ? submissionsSection(n, mine(reqs), () => refresh(false)) : null;
  const sections = [pageTitle(`Case ${n}`), note,
    h('section', { 'aria-labelledby': 'rq-title' }, h('h2', { id: 'rq-title' }, 'Footage requests'), reqTable)];
  if (can('video.export')) {
    const granted = mine(reqs).filter((r) => ['approved', 'exigent'].includes(r.status));
    const camIds = [...new Set(granted.flatMap((r) => r.cameras))];
    const picker = cameraPicker(cams.filter((c) => camIds.includes(c.id)), { name: 'export-cameras', label: 'Cameras to export', chosen: camIds });
    const first = granted[0];
    const exportForm = form({ id: 'export-form' }, [
      picker.el,
      h('div', { class: 'inline' }, rangeFields('ex', 60, first && first.start_us, first && first.end_us)),
      field('Reason', h('input', { name: 'reason', id: 'ex-reason', required: true })),
      submissions ? h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'with_submissions', id: 'ex-subs', checked: true }), ' Include the submitted files accepted into this case') : '',
    ], async (v) => {
      const ids = picker.picked();
      if (!ids.length) throw new Error('Choose at least one camera.');
      const start = fromInputUtc(v.start);
      const end = fromInputUtc(v.end);
      const basis = granted.find((r) => ids.every((id) => r.cameras.includes(id)) && r.start_us <= start && end <= r.end_us);
      const subs = submissions && document.getElementById('ex-subs').checked ? submissions.accepted() : [];
      const x = await api('POST', '/api/exports', { cameras: ids, start_us: start, end_us: end, case_number: n, reason: v.reason, request_id: basis ? basis.id : null, submissions: subs });
      say(note, `Export ${x.id} started; its progress is shown in the table.`);
      await refresh(false);
    }, 'Export evidence');
    sections.push(h('section', { 'aria-labelledby': 'ex-title' }, h('h2', { id: 'ex-title' }, 'Evidence exports'), expTable,
      h('h3', {}, 'New export'), granted.length ? exportForm : h('p', { class: 'muted' }, 'Nothing in this case is approved for export yet.')));
  }
  if (submissions) sections.push(submissions.el);
  ctx.view.append(...sections);

  async function refresh(background) {
    const [r, x] = await Promise.all([api('GET', '/api/requests', undefined, { background }), can('video.export') ? api('GET', '/api/exports', undefined, { background }) : []]);
    // The page's own refresh leaves a half-typed justification alone.
    if (!background || !editing(reqTable)) refill(reqTable, mine(r), renderRequest, 'No request in this case.');
    refill(expTable, mine(x), renderExport, 'No export in this case.');
    if (submissions) await submissions.reload(background);
  }
  return { refresh };
}
