// app.js - the autodist dashboard: polls the read-only JSON API of `autodist ui` (docs/ui.md)
// every 2 s and draws tables and SVG charts by hand (no library, no network beyond the server).
'use strict';

const POLL_MS = 2000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS =
    [ '#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f' ];
const state = {
    job : null,
    plan : null,
    sweep : null
};

// ---- helpers ----------------------------------------------------------------------------------

// An element with attributes and children (strings become text: never HTML).
function el(tag, attrs, ...children)
{
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (k === 'onclick')
            e.addEventListener('click', v);
        else if (v !== null && v !== undefined)
            e.setAttribute(k, v);
    }
    for (const c of children.flat())
        e.append(c instanceof Node
                     ? c
                     : document.createTextNode(c === null || c === undefined ? '-' : String(c)));
    return e;
}

function svg(tag, attrs, text)
{
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {}))
        e.setAttribute(k, v);
    if (text !== undefined)
        e.textContent = text;
    return e;
}

async function api(path)
{
    const r = await fetch(path, {cache : 'no-store'});
    const doc = await r.json();
    if (!r.ok)
        throw new Error(doc.error || r.statusText);
    return doc;
}

function num(v, digits)
{
    if (v === null || v === undefined || Number.isNaN(v))
        return '-';
    if (digits !== undefined)
        return Number(v).toFixed(digits);
    return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : Number(v).toFixed(1);
}

function layoutOf(o)
{
    if (!o || !o.nodes)
        return o && o.spec && o.spec.layout === 'auto' ? 'auto' : '-';
    return `${o.nodes}x${o.procs_per_node}x${o.threads_per_proc}`;
}

function when(t)
{
    if (t === null || t === undefined)
        return '-';
    return new Date(t * 1000).toLocaleString('sv-SE');
}

function ago(t)
{
    if (t === null || t === undefined)
        return '-';
    const s = Date.now() / 1000 - t;
    if (s < 60)
        return `${Math.max(0, Math.round(s))}s ago`;
    if (s < 3600)
        return `${Math.floor(s / 60)}m ago`;
    return `${Math.floor(s / 3600)}h ago`;
}

// When a node was last heard of: the coordinator's age, else a unix time (the store's).
function seen(n)
{
    if (typeof n.last_seen_ago_s === 'number')
        return `${Math.round(n.last_seen_ago_s)}s ago`;
    return typeof n.last_seen === 'number' && n.last_seen > 1e9 ? ago(n.last_seen) : '-';
}

// A value and its spread, "1,000 ± 40"; the value alone without one.
function pm(v, sd, digits)
{
    if (v === null || v === undefined)
        return '-';
    return sd === null || sd === undefined || sd === 0 ? num(v, digits)
                                                       : `${num(v, digits)} ± ${num(sd, digits)}`;
}

// A speedup and its interval, "1.85 (1.60–2.10)".
function speedupText(o)
{
    if (o.speedup === null || o.speedup === undefined)
        return '-';
    if (o.speedup_lo === null || o.speedup_lo === undefined || o.speedup_hi === null ||
        o.speedup_hi === undefined)
        return num(o.speedup, 2);
    return `${num(o.speedup, 2)} (${num(o.speedup_lo, 2)}–${num(o.speedup_hi, 2)})`;
}

// What each flag warns of (docs/speedup.md), shown when the mouse rests on it.
const FLAG_HELP = {
    'noisy' : 'other processes loaded its nodes while it ran',
    'high-spread' : 'its throughput varies a lot: the mean is uncertain',
    'efficiency>100%' : 'faster than ideal: not to be believed',
    'few-samples' : 'accuracy measured on too few test images'
};

// Flags as marked badges, class "flag flag-noisy" etc.; '-' when none.
function flagBadges(flags)
{
    if (!flags || flags.length === 0)
        return '-';
    return flags.map(
        (f) =>
            el('span',
               {class : `flag flag-${f.replace(/[^a-z-].*$/, '')}`, title : FLAG_HELP[f] || f}, f));
}

function bytesText(b)
{
    if (b === null || b === undefined)
        return '-';
    return b >= 2 ** 30 ? `${num(b / 2 ** 30, 2)} GiB` : `${num(b / 2 ** 20, 1)} MiB`;
}

function stateCell(s)
{
    return el('td', {class : `state-${s}`}, s);
}

function fill(tbodySel, rows, emptySel)
{
    const tb = document.querySelector(tbodySel);
    tb.replaceChildren(...rows);
    if (emptySel)
        document.querySelector(emptySel).hidden = rows.length > 0;
}

function formQuery(form)
{
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form))
        if (String(v).trim())
            q.set(k, String(v).trim());
    return q.toString();
}

// ---- panels -------------------------------------------------------------------------------------

async function refreshInfo()
{
    const info = await api('api/info');
    const pill = document.getElementById('source');
    pill.textContent =
        info.reachable ? `coordinator ${info.coordinator}` : 'store only (no coordinator)';
    pill.className = 'pill ' + (info.reachable ? 'live' : 'store');
    pill.title = info.error || '';
    document.getElementById('home').textContent = info.home;
}

async function refreshNodes()
{
    const doc = await api('api/nodes');
    fill('#nodes tbody', doc.nodes.map((n) => {
        const load = n.load || {};
        const cpu = load.cpu === undefined || load.cpu === null ? null : load.cpu;
        const mem = load.mem_total_bytes ? `${num(load.mem_used_bytes / 2 ** 30, 1)}/${
                                               num(load.mem_total_bytes / 2 ** 30, 1)} GiB`
                                         : '-';
        return el(
                'tr', {class: 'node', 'data-name': n.name || n.hostname},
                el('td', {}, n.name || n.hostname), stateCell(n.state),
                el('td', {class: 'num'}, n.cores || '-'),
                el('td', {},
                   cpu === null ? '-' :
                                  [
                                      el('span', {class: 'bar'},
                                         el('span', {style: `width:${Math.min(100, cpu * 100)}%`})),
                                      `${Math.round(cpu * 100)}%`
                                  ]),
                el('td', {}, mem), el('td', {}, seen(n)),
                el('td', {}, (n.jobs || []).join(', ') || '-'));
    }),
         '#nodes-empty');
}

function progressText(j)
{
    const p = j.progress;
    if (!p)
        return j.sched || (j.state === 'COMPLETED' ? 'done' : '-');
    const of = p.steps ? `/${p.steps}` : '';
    return `step ${p.step}${of}` +
           (p.loss !== null && p.loss !== undefined ? `, loss ${num(p.loss, 3)}` : '') +
           (p.samples_per_s ? `, ${num(p.samples_per_s)} samples/s` : '');
}

async function refreshQueue()
{
    const [live, all] = await Promise.all([ api('api/jobs'), api('api/jobs?all=1') ]);
    // The queue and the running jobs first, then the latest that ended.
    const ended =
        all.jobs.filter((j) => j.state !== 'PENDING' && j.state !== 'RUNNING').slice(0, 12);
    const jobs = live.jobs.concat(ended);
    fill('#queue tbody',
         jobs.map(
             (j) => el('tr',
                       {class : 'clickable job', 'data-id' : j.id, onclick : () => selectJob(j.id)},
                       el('td', {}, j.id), el('td', {}, j.name), stateCell(j.state),
                       el('td', {}, layoutOf(j)), el('td', {}, progressText(j)),
                       el('td', {class : 'muted reason'}, j.reason || ''))),
         '#queue-empty');
    // Follow a running job, else the latest that completed, until the user chooses.
    if (state.job === null && jobs.length) {
        const running = jobs.find((j) => j.state === 'RUNNING');
        const done = jobs.find((j) => j.state === 'COMPLETED');
        selectJob((running || done || jobs[0]).id);
    }
}

function selectJob(id)
{
    state.job = id;
    document.querySelector('#plan-form [name=job]').value = id;
    state.plan = id;
    refreshJob().catch(showError);
    refreshPlan().catch(showError);
}

// A line chart of points [[x, y], ...] in an SVG of viewBox 480 x 220; the y axis starts at 0
// when fromZero (a throughput), else at the lowest value (a loss that moves little).
function lineChart(node, points, color, yLabel, fromZero)
{
    const W = 480, H = 220, L = 52, R = 12, T = 12, B = 30;
    node.replaceChildren();
    const pts = points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    if (pts.length === 0) {
        node.append(svg('text', {x : W / 2, y : H / 2, 'text-anchor' : 'middle', class : 'nodata'},
                        'no samples yet'));
        return;
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    const ys = pts.map((p) => p[1]);
    let y0 = fromZero ? Math.min(0, ...ys) : Math.min(...ys), y1 = Math.max(...ys);
    if (x1 === x0)
        x1 = x0 + 1;
    if (y1 === y0)
        y1 = y0 + 1;
    if (!fromZero)
        y0 -= (y1 - y0) * 0.05;
    y1 += (y1 - y0) * 0.05;
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
    for (let i = 0; i <= 4; i++) {
        const y = y0 + (y1 - y0) * i / 4;
        node.append(svg('line', {x1 : L, x2 : W - R, y1 : sy(y), y2 : sy(y), class : 'grid'}));
        node.append(svg('text', {x : L - 4, y : sy(y) + 4, 'text-anchor' : 'end'},
                        num(y, y1 - y0 < 10 ? (y1 - y0 < 0.1 ? 4 : 2) : 0)));
    }
    node.append(svg('line', {x1 : L, x2 : W - R, y1 : H - B, y2 : H - B, class : 'axis'}));
    node.append(svg('line', {x1 : L, x2 : L, y1 : T, y2 : H - B, class : 'axis'}));
    node.append(svg('text', {x : L, y : H - 8}, `step ${x0}`));
    node.append(svg('text', {x : W - R, y : H - 8, 'text-anchor' : 'end'}, `step ${x1}`));
    node.append(svg('text', {x : (W + L) / 2, y : H - 8, 'text-anchor' : 'middle', class : 'muted'},
                    yLabel));
    const d =
        pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    node.append(svg('path', {d, class : 'curve', stroke : color}));
    if (pts.length < 40)
        for (const p of pts)
            node.append(svg('circle', {cx : sx(p[0]), cy : sy(p[1]), r : 2.5, fill : color}));
}

async function refreshJob()
{
    if (state.job === null)
        return;
    const doc = await api(`api/jobs/${state.job}`);
    const j = doc.job, run = doc.run || {};
    document.getElementById('job-title').textContent = `${j.id} ${j.name} (${doc.source})`;
    const kv = [
        [ 'state', j.state ], [ 'layout', layoutOf(j) ], [ 'nodes', j.nodelist ],
        [ 'progress', progressText(j) ], [ 'samples/s', pm(run.samples_per_s, run.sps_sd) ],
        [ 'speedup', speedupText(run) ], [ 'flags', flagBadges(run.flags) ],
        [
            'CPU time', run.cpu_time_s === null || run.cpu_time_s === undefined
                            ? '-'
                            : `${num(run.cpu_time_s, 1)} s`
        ],
        [ 'peak memory', bytesText(run.max_rss_bytes) ],
        [
            'accuracy', run.accuracy === null || run.accuracy === undefined
                            ? '-'
                            : `${num(run.accuracy * 100, 1)}%`
        ],
        [ 'started', when(j.started) ], [ 'ended', when(j.ended) ], [ 'reason', j.reason || '-' ]
    ];
    document.getElementById('job-info')
        .replaceChildren(...kv.map(([ k, v ]) => el('span', {}, el('b', {}, k), v)));
    const m = doc.metrics || {};
    lineChart(document.getElementById('loss-chart'), m.loss || [], COLORS[1], 'loss', false);
    lineChart(document.getElementById('sps-chart'), m.samples_per_s || [], COLORS[0], 'samples/s',
              true);
}

async function refreshRuns()
{
    const form = document.getElementById('runs-filter');
    const err = document.getElementById('runs-error');
    try {
        const doc = await api(`api/runs?${formQuery(form)}`);
        err.textContent = '';
        fill('#runs tbody',
             doc.runs.map((r) => el('tr', {
                              class : r.job ? 'clickable run' : 'run',
                              onclick : r.job ? () => selectJob(r.job) : null
                          },
                                    el('td', {}, r.id), el('td', {}, r.job), el('td', {}, r.model),
                                    el('td', {}, r.dataset), el('td', {}, layoutOf(r)),
                                    el('td', {class : 'num'}, r.batch_size),
                                    el('td', {title : r.hardware}, r.hardware_label || r.hardware),
                                    stateCell(r.state),
                                    el('td', {class : 'num'}, pm(r.samples_per_s, r.sps_sd)),
                                    el('td', {class : 'num'}, speedupText(r)),
                                    el('td', {class : 'flags'}, flagBadges(r.flags)),
                                    el('td', {class : 'num'},
                                       r.accuracy === null ? '-' : `${num(r.accuracy * 100, 1)}%`),
                                    el('td', {}, when(r.ended)))),
             '#runs-empty');
    } catch (e) {
        err.textContent = e.message;
    }
}

// The baselines (docs/speedup.md): what each speedup divides by.
function drawBaselines(list)
{
    fill('#baselines tbody',
         list.map((b) => el('tr', {class : 'baseline'},
                            el('td', {title : b.hardware}, b.hardware_label || b.hardware),
                            el('td', {}, b.model), el('td', {}, b.dataset),
                            el('td', {class : 'num'}, b.batch_size), el('td', {}, b.device),
                            el('td', {class : 'num'}, pm(b.samples_per_s, b.samples_sd)),
                            el('td', {class : 'num'}, b.n),
                            el('td', {}, b.pinned ? 'pinned' : 'mean of repeats'))),
         '#baselines-empty');
}

// The speedup plot: x = workers (cores used; GPUs on gpu), y = mean speedup, bars = its
// interval, dashed = ideal, dotted vertical = the cores of one node of a machine.
async function refreshSpeedup()
{
    const form = document.getElementById('speedup-filter');
    const q = formQuery(form);
    const [doc, base] = await Promise.all([ api(`api/speedup?${q}`), api(`api/baselines?${q}`) ]);
    drawBaselines(base.baselines);
    const node = document.getElementById('speedup-plot');
    const W = 720, H = 380, L = 56, R = 210, T = 16, B = 40;
    node.replaceChildren();
    const rows = doc.rows.filter((r) => r.speedup !== null);
    node.setAttribute('data-points', String(rows.length));
    if (rows.length === 0) {
        node.append(
            svg('text', {x : W / 2, y : H / 2, 'text-anchor' : 'middle', class : 'nodata'},
                'no speedup yet: it needs a COMPLETED 1x1x1 run and runs of other layouts'));
        return;
    }
    // The cores per node of each machine the CPU rows ran on: past them cores are shared.
    const machines = new Map();
    for (const r of rows)
        if (r.device !== 'gpu' && r.node_cores)
            machines.set(
                r.node_cores,
                (machines.get(r.node_cores) || new Set()).add(r.hardware_label || r.hardware));
    // Room right of the last point for its label.
    const xmax = Math.ceil(Math.max(2, ...rows.map((r) => r.workers), ...machines.keys()) * 1.12);
    const ymax = Math.max(2, ...rows.map((r) => r.speedup_hi ?? r.speedup)) * 1.08;
    const sx = (x) => L + x / xmax * (W - L - R);
    const sy = (y) => H - B - y / ymax * (H - T - B);
    const step = (m) => (m <= 8 ? 1 : Math.ceil(m / 8));
    for (let y = 0; y <= ymax; y += step(ymax)) {
        node.append(svg('line', {x1 : L, x2 : W - R, y1 : sy(y), y2 : sy(y), class : 'grid'}));
        node.append(svg('text', {x : L - 6, y : sy(y) + 4, 'text-anchor' : 'end'}, String(y)));
    }
    for (let x = 0; x <= xmax; x += step(xmax))
        node.append(svg('text', {x : sx(x), y : H - B + 16, 'text-anchor' : 'middle'}, String(x)));
    node.append(svg('line', {x1 : L, x2 : W - R, y1 : H - B, y2 : H - B, class : 'axis'}));
    node.append(svg('line', {x1 : L, x2 : L, y1 : T, y2 : H - B, class : 'axis'}));
    node.append(svg('text', {x : (L + W - R) / 2, y : H - 6, 'text-anchor' : 'middle'},
                    'workers: cores used (nodes × processes × threads; GPUs on gpu)'));
    node.append(svg('text', {
        x : 14,
        y : (T + H - B) / 2,
        'text-anchor' : 'middle',
        transform : `rotate(-90 14 ${(T + H - B) / 2})`
    },
                    'speedup'));
    // The ideal line: speedup = cores, clipped to the plot.
    const end = Math.min(xmax, ymax);
    node.append(svg('line', {x1 : sx(0), y1 : sy(0), x2 : sx(end), y2 : sy(end), class : 'ideal'}));
    node.append(svg('text',
                    {x : sx(end) - 4, y : sy(end) - 6, 'text-anchor' : 'end', class : 'label'},
                    'ideal'));
    for (const [cores, names] of machines) {
        const line = svg('line', {
            x1 : sx(cores),
            x2 : sx(cores),
            y1 : T,
            y2 : H - B,
            class : 'cores-line',
            'data-cores' : cores
        });
        line.append(svg('title', {}, `${cores} cores per node: ${[...names].join(', ')}`));
        node.append(line);
        // The label right of the line, or left of it when it would leave the plot.
        const text = `${cores} cores/node (${[...names].join(', ')})`;
        const right = sx(cores) + 4 + 6.2 * text.length < W - R;
        node.append(svg('text', {
            x : right ? sx(cores) + 4 : sx(cores) - 4,
            y : T + 10,
            'text-anchor' : right ? 'start' : 'end',
            class : 'label cores-label'
        },
                        text));
    }
    // One series (colour) per model, dataset, batch, hardware and device.
    const series = new Map();
    for (const r of rows) {
        const key = [
            r.model, r.dataset, `batch ${r.batch_size}`, r.hardware_label || r.hardware || '?',
            r.device
        ].join(' · ');
        if (!series.has(key))
            series.set(key, []);
        series.get(key).push(r);
    }
    const labels = []; // the boxes of the labels placed so far
    let i = 0;
    for (const [key, pts] of series) {
        const color = COLORS[i % COLORS.length];
        pts.sort((a, b) => a.workers - b.workers);
        for (const r of pts) {
            const x = sx(r.workers);
            if (r.speedup_lo !== null && r.speedup_hi !== null) {
                node.append(svg('line', {
                    x1 : x,
                    x2 : x,
                    y1 : sy(r.speedup_lo),
                    y2 : sy(r.speedup_hi),
                    stroke : color,
                    class : 'errbar'
                }));
                for (const y of [r.speedup_lo, r.speedup_hi])
                    node.append(svg('line', {
                        x1 : x - 4,
                        x2 : x + 4,
                        y1 : sy(y),
                        y2 : sy(y),
                        stroke : color,
                        class : 'errbar'
                    }));
            }
            const flags = r.flags || [];
            // A flagged group: a hollow point in a red ring, its flags in the label.
            const dot = svg('circle', {
                cx : x,
                cy : sy(r.speedup),
                r : 4.5,
                fill : flags.length ? '#fff' : color,
                stroke : color,
                class : flags.length ? 'point flagged' : 'point',
                'data-flags' : flags.join(',')
            });
            dot.append(svg('title', {},
                           `${key}\n${layoutOf(r)}: speedup ${speedupText(r)}, ${
                               pm(r.samples_per_s, r.samples_sd)} samples/s, ${r.runs} runs` +
                               (flags.length ? `\nflags: ${flags.join(', ')}` : '')));
            node.append(dot);
            if (flags.length)
                node.append(
                    svg('circle', {cx : x, cy : sy(r.speedup), r : 8, class : 'flag-ring'}));
            // A label goes down a line at a time until it overlaps no label placed before.
            const text =
                `${layoutOf(r)} (${r.runs})` + (flags.length ? ` ⚠ ${flags.join(',')}` : '');
            const box = {x : x + 7, y : sy(r.speedup) - 6, w : 6.2 * text.length, h : 12};
            while (labels.some((b) => box.x < b.x + b.w && b.x < box.x + box.w &&
                                      box.y - box.h < b.y && b.y - b.h < box.y))
                box.y += 13;
            labels.push(box);
            node.append(svg('text', {x : box.x, y : box.y, class : 'label'}, text));
        }
        const ly = T + 14 + i * 18;
        node.append(
            svg('rect', {x : W - R + 12, y : ly - 9, width : 10, height : 10, fill : color}));
        node.append(svg('text', {x : W - R + 28, y : ly, class : 'label'},
                        key.length > 34 ? key.slice(0, 33) + '…' : key));
        i++;
    }
}

async function refreshPlan()
{
    const out = document.getElementById('plan');
    if (state.plan === null) {
        out.replaceChildren(
            el('p', {class : 'empty'},
               'Choose a job: its layout, and for layout: auto the planner\'s ranking.'));
        return;
    }
    let doc;
    try {
        doc = await api(`api/plan?job=${encodeURIComponent(state.plan)}`);
    } catch (e) {
        out.replaceChildren(el('p', {class : 'error'}, e.message));
        return;
    }
    const parts =
        [ el('p', {}, `Job ${doc.job} ${doc.name}: ${doc.state}, layout `, el('b', {}, doc.layout),
             doc.auto ? ' (layout: auto)' : ' (fixed in the job file)') ];
    const plan = doc.plan;
    if (plan) {
        parts.push(el(
            'p', {},
            `Choice: ${plan.choice}, ${plan.candidates_total} layouts fit` +
                (plan.probes && plan.probes.length ? `; probes ${plan.probes.join(', ')}` : '')));
        parts.push(el(
            'table', {class : 'plan'},
            el('thead', {},
               el('tr', {},
                  [ 'Layout', 'Device', 'Samples/s', 'Interval', 'Speedup', 'Efficiency', 'Basis' ]
                      .map((h) => el('th', {}, h)))),
            el('tbody', {},
               (plan.candidates || [])
                   .map((c) => el('tr', {class : c.layout === plan.choice ? 'state-COMPLETED' : ''},
                                  el('td', {}, c.layout), el('td', {}, c.device),
                                  el('td', {class : 'num'}, num(c.samples_per_s)),
                                  el('td', {}, `${num(c.low)}–${num(c.high)}`),
                                  el('td', {class : 'num'}, num(c.speedup, 2)),
                                  el('td', {class : 'num'}, num(c.efficiency, 2)),
                                  el('td', {}, c.basis))))));
    } else if (doc.auto) {
        parts.push(el('p', {class : 'muted'},
                      'The ranking is held by the coordinator while it plans and runs the job.'));
    }
    if (doc.reason)
        parts.push(el('p', {class : 'muted'}, doc.reason));
    out.replaceChildren(...parts);
}

// What a sweep's user must know: jobs that can never start, and the last failures (click: open).
function sweepNotes(s)
{
    const notes = [];
    if (s.never)
        notes.push(el('div', {class : 'error'}, `${s.never} cannot start: ${s.never_reason}`));
    for (const f of s.failed_jobs || [])
        notes.push(el('div', {class : 'muted clickable', onclick : () => selectJob(f.job)},
                      `job ${f.job} ${f.name} ${f.state}: ${f.reason || '-'}`));
    return notes;
}

async function refreshSweeps()
{
    const doc = await api('api/sweeps');
    const out = document.getElementById('sweeps');
    out.replaceChildren(...doc.sweeps.map((s) => {
        const total = s.total || 0;
        const seg = (n, cls) =>
            el('span', {class : cls, style : `width:${total ? 100 * (n || 0) / total : 0}%`});
        const done = (s.completed || 0) + (s.failed || 0) + (s.cancelled || 0);
        return el('div', {class : 'sweep', 'data-name' : s.name},
                  el('div', {}, el('b', {}, s.name), ' ',
                     el('span', {class : `state-${s.state}`}, s.state),
                     ` — ${done} of ${total} done: ${s.completed || 0} completed, ${
                         s.running || 0} running, ` +
                         `${s.pending ?? s.queued ?? 0} pending, ${s.failed || 0} failed` +
                         (s.eta_s ? `, ETA ${Math.round(s.eta_s)} s` : '')),
                  el('div', {class : 'progress'}, seg(s.completed, 'seg-completed'),
                     seg(s.running, 'seg-running'), seg(s.failed, 'seg-failed'),
                     seg(s.cancelled, 'seg-cancelled')),
                  sweepNotes(s));
    }));
    document.getElementById('sweeps-empty').hidden = doc.sweeps.length > 0;
}

function showError(e)
{
    const pill = document.getElementById('source');
    pill.textContent = `error: ${e.message}`;
    pill.className = 'pill';
}

async function tick()
{
    const jobs = [ refreshInfo(), refreshNodes(), refreshQueue(), refreshSweeps() ];
    if (state.job !== null)
        jobs.push(refreshJob());
    const results = await Promise.allSettled(jobs);
    const bad = results.find((r) => r.status === 'rejected');
    if (bad)
        showError(bad.reason);
    document.getElementById('updated').textContent =
        `updated ${new Date().toLocaleTimeString('en-GB')}`;
    document.body.setAttribute('data-ready', '1');
}

function start()
{
    document.getElementById('runs-filter').addEventListener('submit', (ev) => {
        ev.preventDefault();
        refreshRuns();
    });
    document.getElementById('speedup-filter').addEventListener('submit', (ev) => {
        ev.preventDefault();
        refreshSpeedup().catch(showError);
    });
    document.getElementById('plan-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const v = new FormData(ev.target).get('job');
        state.plan = v ? String(v).trim() : null;
        refreshPlan();
    });
    // ?job=ID in the page's address opens that job.
    const want = new URLSearchParams(location.search).get('job');
    if (want)
        selectJob(Number(want));
    refreshPlan();
    Promise.allSettled([ refreshRuns(), refreshSpeedup().catch(showError) ]);
    tick();
    setInterval(tick, POLL_MS);
    // Finished runs and the speedup change only when a job ends: every 5 polls is enough.
    setInterval(() => {
        refreshRuns();
        refreshSpeedup().catch(showError);
    }, POLL_MS * 5);
}

start();
