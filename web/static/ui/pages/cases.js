// Cases: footage requests and evidence exports grouped by case number. `/cases` files a
// request (cameras picked by name) and lists the cases; `/cases/<number>` shows one case's
// requests (with exigent access for supervisors), plays approved footage, and exports it with
// a progress bar and download links.

import { api, can } from '../api.js';
import { h, field, pageTitle, cameraPicker, utc, form, table, refill, rangeFields, fromInputUtc, progress, status, say, editing } from '../dom.js';

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

  const renderExport = (x) => [`#${x.id}`, x.cameras.map((id) => camName(cams, id)).join(', '), `${utc(x.start_us)} – ${utc(x.end_us)}`,
    h('td', { class: 'status' }, x.status === 'running' ? progress(x.bytes_done, x.bytes_total, `Export ${x.id} progress`)
      : x.status === 'failed' ? `failed: ${x.error}` : progress(1, 1, `Export ${x.id} progress`)),
    h('td', {}, x.files.map((f) => [h('a', { href: `/api/exports/${x.id}/files/${encodeURIComponent(f)}`, download: f }, f), ' ']))];
  const expTable = table('exports', ['#', 'Cameras', 'Range (UTC)', 'Status', 'Files'], mine(exports), renderExport, 'No export in this case.');

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
    ], async (v) => {
      const ids = picker.picked();
      if (!ids.length) throw new Error('Choose at least one camera.');
      const start = fromInputUtc(v.start);
      const end = fromInputUtc(v.end);
      const basis = granted.find((r) => ids.every((id) => r.cameras.includes(id)) && r.start_us <= start && end <= r.end_us);
      const x = await api('POST', '/api/exports', { cameras: ids, start_us: start, end_us: end, case_number: n, reason: v.reason, request_id: basis ? basis.id : null });
      say(note, `Export ${x.id} started; its progress is shown in the table.`);
      await refresh(false);
    }, 'Export evidence');
    sections.push(h('section', { 'aria-labelledby': 'ex-title' }, h('h2', { id: 'ex-title' }, 'Evidence exports'), expTable,
      h('h3', {}, 'New export'), granted.length ? exportForm : h('p', { class: 'muted' }, 'Nothing in this case is approved for export yet.')));
  }
  const submissions = can('request.file') ? submissionsSection(n, mine(reqs)) : null;
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

/**
 * Submissions of a case: send a link to someone who has footage (the link is shown once, to
 * copy into an email or a message), and see what came in through each link — the statement,
 * and each file with its size and SHA-256.
 */
function submissionsSection(n, requests) {
  const note = status('links-status');
  const shown = h('div', { id: 'new-link', role: 'status' });
  const list = h('div', { id: 'submissions' });
  const draw = (items) => {
    list.replaceChildren(...(items.length ? items.map((x) => {
      const l = x.link;
      const state = l.revoked_us ? 'revoked' : l.expires_us < Date.now() * 1000 ? 'expired' : `open until ${utc(l.expires_us)} UTC`;
      const st = x.statement;
      return h('div', { class: 'card submission', dataset: { link: l.id } },
        h('h3', {}, `Link ${l.id} to ${l.recipient} — ${state}`),
        st ? h('dl', { class: 'facts' },
          h('dt', {}, 'From'), h('dd', {}, [st.name, st.contact].filter(Boolean).join(', ') || 'not given'),
          h('dt', {}, 'Camera'), h('dd', {}, st.camera_location),
          h('dt', {}, 'Shows'), h('dd', {}, st.shows),
          h('dt', {}, 'Recorded'), h('dd', {}, st.recorded_when),
          h('dt', {}, 'Camera clock'), h('dd', {}, st.clock_offset_secs === null ? 'not known' : `${Math.abs(st.clock_offset_secs) / 60} min ${st.clock_offset_secs >= 0 ? 'fast' : 'slow'} (declared)`),
          h('dt', {}, 'Attestation'), h('dd', {}, `version ${st.attestation_version}, ${utc(st.made_us)} UTC`)) : h('p', { class: 'muted' }, 'No statement yet.'),
        table(`files-${l.id}`, ['File', 'Size', 'Received', 'What it is', 'SHA-256', ''], x.files,
          (f) => [f.filename, `${f.length} bytes`, f.received_us ? `${utc(f.received_us)} UTC` : `${Math.floor((100 * f.offset) / f.length)} % so far`,
            h('td', { class: 'what' }, f.what || (f.received_us ? 'being identified…' : '')), h('td', { class: 'hash' }, f.sha256 || ''),
            h('td', {}, f.received_us ? [
              f.browser_playable ? h('button', { type: 'button', onclick: (ev) => play(ev.target, f) }, `Play ${f.filename}`) : '', ' ',
              h('a', { href: `/api/submissions/${f.id}/original`, download: f.filename }, `Download ${f.filename}`)] : '')], 'No file yet.'),
        l.revoked_us ? '' : h('button', { type: 'button', onclick: async () => {
          try { await api('DELETE', `/api/links/${l.id}`); say(note, `Link ${l.id} revoked.`); await reload(); }
          catch (e) { say(note, `Link ${l.id}: ${e.message}`, true); }
        } }, `Revoke link ${l.id}`));
    }) : [h('p', { class: 'muted' }, 'No submission link yet.')]));
  };
  let shownJson = null;
  // Redrawn when something changed (a file arrived, was identified), never under an open player.
  const reload = async (background = false) => {
    const items = await api('GET', `/api/cases/${encodeURIComponent(n)}/submissions`, undefined, { background });
    const json = JSON.stringify(items);
    if (json === shownJson || list.querySelector('.player-row')) return;
    shownJson = json;
    draw(items);
  };
  // A submitted file plays as it was received (only files identified by content as playable).
  const play = (button, f) => {
    const row = button.closest('tr');
    const old = row.nextElementSibling;
    if (old && old.classList.contains('player-row')) { old.remove(); return; }
    const video = h('video', { class: 'player', controls: true, preload: 'auto', src: `/api/submissions/${f.id}/original?inline=1`, 'aria-label': `Submitted video ${f.filename}` });
    row.after(h('tr', { class: 'player-row' }, h('td', { colspan: '6' }, video)));
    video.focus();
  };
  const f = form({ id: 'link-form', class: 'inline' }, [
    field('Recipient', h('input', { name: 'recipient', id: 'lk-recipient', required: true }), 'Who it is for, e.g. owner of the 12 Elm St doorbell'),
    field('For request', h('select', { name: 'request_id', id: 'lk-request' }, h('option', { value: '' }, 'the case in general'),
      requests.map((r) => h('option', { value: String(r.id) }, `#${r.id}`)))),
  ], async (v, form_) => {
    const l = await api('POST', `/api/cases/${encodeURIComponent(n)}/links`, { recipient: v.recipient, request_id: v.request_id ? Number(v.request_id) : null });
    form_.reset();
    const url = `${location.origin}${l.url}`;
    shown.replaceChildren(h('p', {}, `Link ${l.id} for ${l.recipient}, open until ${utc(l.expires_us)} UTC. Send it to them now; it is not shown again:`),
      h('code', { id: 'new-link-url', class: 'secret' }, url));
    await reload();
  }, 'Create submission link');
  reload().catch((e) => say(note, e.message, true));
  const el = h('section', { 'aria-labelledby': 'sub-title' }, h('h2', { id: 'sub-title' }, 'Submitted footage'),
    h('p', { class: 'muted' }, 'People with footage send it through a link: no account needed. Each file is kept exactly as received, with its SHA-256.'),
    note, f, shown, list);
  return { el, reload };
}
