// The registry map (agency staff): the cameras around wherever the map shows, clustered, with
// their view cones and owners' pseudonyms; an area request drawn as a circle around the
// incident, its preview (who would be asked, whose view covers the point, whether the window
// is still inside the owner's retention), sending it, and each canvass's progress.

import { api, can, session } from '../api.js';
import { h, pageTitle, field, form, table, refill, status, say, utc, rangeFields, fromInputUtc } from '../dom.js';
import { makeMap, viewCone, positionFields } from '../map.js';

const yesNo = (v) => (v === null || v === undefined ? 'unknown' : v ? 'yes' : 'no');

export async function render(ctx) {
  const { el, map, L, config } = await makeMap('registry-map', 'Map of registered cameras. Click to set the incident position, or type it below.');
  const found = h('p', { role: 'status', id: 'map-count', class: 'muted' });
  const clusters = L.markerClusterGroup({ showCoverageOnHover: false });
  const cones = L.layerGroup();
  map.addLayer(clusters); map.addLayer(cones);

  // The cameras wherever the map shows (every search is audited, so panning waits a moment).
  let timer = null;
  const showCameras = async () => {
    const c = map.getCenter();
    const radius = Math.max(1, Math.min(3000, Math.round(map.distance(c, map.getBounds().getNorthEast()))));
    try {
      const hits = await api('GET', `/api/registry?lat=${c.lat}&lon=${c.lng}&radius_m=${radius}`, undefined, { background: true });
      clusters.clearLayers(); cones.clearLayers();
      for (const x of hits) {
        const m = L.circleMarker([x.lat, x.lon], { radius: 6, color: x.registered ? '#6a4c93' : '#1d3557', weight: 2, fillOpacity: 0.7 });
        // A text node, never HTML: names come from partners and imports.
        const tip = `${x.name} — ${x.owner} (${x.registered ? 'registered' : x.sharing}${x.kind ? `, ${x.kind}` : ''})`;
        m.bindTooltip(() => document.createTextNode(tip));
        clusters.addLayer(m);
        const cone = viewCone(L, x.lat, x.lon, x.view);
        if (cone) cones.addLayer(cone);
      }
      found.textContent = `${hits.length} camera${hits.length === 1 ? '' : 's'} within ${radius} m of the map centre.`;
    } catch (e) { found.textContent = e.message; }
  };
  map.on('moveend', () => { clearTimeout(timer); timer = setTimeout(showCameras, 400); });

  // The area request: position, radius (drawn as a circle), window and legal basis.
  let circle = null;
  const radius = h('input', { type: 'number', name: 'radius_m', id: 'cv-radius', min: '1', max: String(config.max_radius_m), value: String(Math.min(300, config.max_radius_m)), required: true });
  const draw = () => {
    const p = pos.get();
    if (!p.every(Number.isFinite) || pos.lat.value === '') return;
    const r = Number(radius.value) || 0;
    if (!circle) circle = L.circle(p, { radius: r, color: '#e63946', weight: 2, fillOpacity: 0.05, interactive: false }).addTo(map);
    else { circle.setLatLng(p); circle.setRadius(r); }
  };
  const pos = positionFields(L, map, { prefix: 'cv', onChange: draw });
  radius.addEventListener('input', draw);

  const note = status('canvass-status');
  const preview = h('div', { id: 'canvass-preview', 'aria-live': 'polite' });
  let shown = null; // the body the preview was made for
  const body = (v) => ({
    lat: Number(v.lat), lon: Number(v.lon), radius_m: Number(v.radius_m),
    start_us: fromInputUtc(v.start), end_us: fromInputUtc(v.end),
    case_number: v.case_number, offence: v.offence, reason: v.reason,
  });
  const f = form({ id: 'canvass-form' }, [
    h('div', { class: 'inline' }, field('Latitude', pos.lat), field('Longitude', pos.lon), field('Radius (m)', radius, `At most ${config.max_radius_m} m`)),
    h('div', { class: 'actions' }, pos.centre),
    h('div', { class: 'inline' }, rangeFields('cv', 60)),
    h('div', { class: 'inline' },
      field('Case number', h('input', { name: 'case_number', id: 'cv-case', required: true })),
      field('Offence', h('input', { name: 'offence', id: 'cv-offence', required: true }))),
    field('Reason', h('textarea', { name: 'reason', id: 'cv-reason', required: true, rows: '2' }), 'Owners see the case, the window and this reason — never where the incident was.'),
  ], async (v) => {
    const b = body(v);
    const rows = await api('POST', '/api/canvasses/preview', b);
    shown = b;
    showPreview(rows);
  }, 'Preview cameras');

  function showPreview(rows) {
    const asked = rows.filter((r) => !r.skipped);
    const boxes = new Map();
    const t = table('preview-list', ['Ask', 'Camera', 'Owner', 'Distance', 'Sees the point', 'Window kept', 'Note'], rows, (r) => {
      const box = r.skipped ? '' : h('input', { type: 'checkbox', checked: r.in_retention !== false, 'aria-label': `Ask the owner of ${r.name}` });
      if (box) boxes.set(r.camera, box);
      return [h('td', {}, box), `${r.name} (${r.registered ? 'registered' : r.sharing})`, r.owner, `${Math.round(r.distance_m)} m`, yesNo(r.covers),
        r.in_retention === false ? 'no — older than the owner keeps' : yesNo(r.in_retention), r.skipped || ''];
    }, 'No camera within the radius.');
    const send = h('button', { type: 'button', id: 'send-canvass', disabled: !asked.length, onclick: async () => {
      const cameras = [...boxes].filter(([, b]) => b.checked).map(([id]) => id);
      send.disabled = true;
      try {
        const p = await api('POST', '/api/canvasses', { ...shown, cameras });
        say(note, `Area request ${p.id} sent: ${p.owners} owner${p.owners === 1 ? '' : 's'} asked.`);
        preview.replaceChildren();
        await refresh(false);
        await showProgress(p.id);
      } catch (e) { say(note, e.message, true); send.disabled = false; }
    } }, 'Send area request');
    preview.replaceChildren(h('h3', {}, `${rows.length} camera${rows.length === 1 ? '' : 's'} found; ${asked.length} can be asked`), t, h('div', { class: 'actions' }, send));
  }

  // Canvasses and their progress.
  const progress = h('div', { id: 'canvass-progress', 'aria-live': 'polite' });
  let following = null;
  const renderCanvass = (c) => [`#${c.id}`, c.case_number, utc(c.created_us), `${c.radius_m} m`, String(c.owners),
    h('td', {}, h('button', { type: 'button', 'aria-label': `Progress of area request ${c.id}`, onclick: () => showProgress(c.id) }, 'Progress'))];
  const canvassing = can('request.file');
  const list = table('canvass-list', ['#', 'Case', 'Sent (UTC)', 'Radius', 'Owners', ''], canvassing ? await api('GET', '/api/canvasses') : [], renderCanvass, 'No area request yet.');
  async function showProgress(id, background = false) {
    const p = await api('GET', `/api/canvasses/${id}`, undefined, { background });
    following = id;
    const counts = [['notified', 'Emailed'], ['opened', 'Opened'], ['declined', 'Declined'], ['approved', 'Approved'], ['submitted', 'Submitted files'], ['delivery_problems', 'Email problems']];
    progress.replaceChildren(
      h('h3', { id: 'progress-title' }, `Area request ${p.id} — case ${p.case_number}, ${p.owners} owner${p.owners === 1 ? '' : 's'}`),
      h('div', { class: 'counts', id: 'progress-counts' }, counts.map(([k, label]) => h('div', { dataset: { count: k } }, h('strong', {}, String(p[k])), ` ${label}`))),
      table('progress-owners', ['Owner', 'Request', 'Cameras', 'Answer', 'Email', 'Opened', 'Files'], p.per_owner,
        (o) => [o.owner, `#${o.request}`, o.cameras.join(', '), o.status, o.email_detail ? `${o.email}: ${o.email_detail}` : o.email, o.opened ? 'yes' : 'no', String(o.files)]));
  }
  async function refresh(background) {
    if (!canvassing) return;
    refill(list, await api('GET', '/api/canvasses', undefined, { background }), renderCanvass, 'No area request yet.');
    if (following !== null) await showProgress(following, background);
  }

  ctx.view.append(pageTitle('Registry map'),
    h('section', { 'aria-labelledby': 'map-title' }, h('h2', { id: 'map-title' }, 'Cameras'),
      h('p', { class: 'muted' }, 'Registered cameras (purple) send no video; integrated cameras (blue) record here. You see each camera’s position, view and its owner’s pseudonym; the system relays requests to owners.'),
      el, found));
  if (canvassing) {
    ctx.view.append(
      h('section', { 'aria-labelledby': 'canvass-title' }, h('h2', { id: 'canvass-title' }, 'Area request'),
        h('p', { class: 'muted' }, 'Ask every owner around an incident for footage at once: one request per owner, answered in their portal or through a link by email.'),
        f, note, preview),
      h('section', { 'aria-labelledby': 'canvasses-title' }, h('h2', { id: 'canvasses-title' }, 'Area requests sent'), list, progress));
  }
  if (can('partners.manage')) ctx.view.append(importSection(showCameras));
  map.invalidateSize();
  await showCameras();
  return { refresh, leave: () => { clearTimeout(timer); map.remove(); } };
}

/** Importing an existing registry (administrators): a CSV or GeoJSON file, its row errors. */
function importSection(onDone) {
  const file = h('input', { type: 'file', id: 'import-file', accept: '.csv,.geojson,.json,text/csv,application/geo+json' });
  const busy = h('p', { role: 'status', id: 'import-status' });
  const result = h('div', { id: 'import-result', 'aria-live': 'polite' });
  const go = h('button', { type: 'button', id: 'import-send', onclick: async () => {
    const f = file.files[0];
    if (!f) { busy.textContent = 'Choose a file first.'; return; }
    go.disabled = true;
    busy.replaceChildren(h('progress', { 'aria-label': 'Importing' }), ` Importing ${f.name}…`);
    try {
      const r = await fetch('/api/registry/import', { method: 'POST', body: f, credentials: 'same-origin',
        headers: { 'X-CSRF-Token': session.me.csrf, Accept: 'application/json' } });
      const v = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(v.error || `import refused (${r.status})`);
      busy.textContent = `${f.name}: ${v.rows} rows — ${v.owners_created} owners and ${v.cameras_created} cameras added, ${v.cameras_moved} moved, ${v.unchanged} unchanged, ${v.errors.length} refused.`;
      result.replaceChildren(v.errors.length ? table('import-errors', ['Row', 'What is wrong'], v.errors.slice(0, 500), (e) => [String(e.row), e.error]) : '');
      await onDone();
    } catch (e) { busy.textContent = e.message; }
    finally { go.disabled = false; }
  } }, 'Import');
  return h('section', { 'aria-labelledby': 'import-title' }, h('h2', { id: 'import-title' }, 'Import a registry'),
    h('p', { class: 'muted' }, 'A CSV file with a header row, or GeoJSON points, one registered camera per row: owner_email, camera_name, lat, lon (required); owner_name, owner_phone, owner_address, address, bearing_deg, fov_deg, range_m, kind, owner_keeps_days. Owners are matched by email and cameras by name, so importing a file again changes only what changed.'),
    field('Registry file', file), h('div', { class: 'actions' }, go), busy, result);
}
