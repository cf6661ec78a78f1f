// seglib's explorers on a page with no kernel (the built book). Each explorer's HTML output
// holds every setting's numbers as JSON, computed by seglib (seglib/widgets/*_static_data);
// this script draws controls and, on every change, the chosen setting's view, laid out as the
// Python view (render_*_view) is. It computes no convolution: it looks numbers up, except the
// IoU explorer, which places seglib's masks and counts their overlap (too many settings to store).
// The book loads it (deferred) on the pages that hold an explorer: book/_ext/book_assets.py.
(function () {
  "use strict";
  if (window.seglibExplorers) { window.seglibExplorers.mountAll(); return; }

  const esc = t => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const fmtG = v => String(Object.is(v, -0) ? 0 : v);  // the data holds whole numbers as ints
  const fmt2 = v => { const t = v.toFixed(2).replace(/0+$/, "").replace(/\.$/, ""); return t === "-0" ? "0" : t; };
  const divmod = (a, b) => [Math.floor(a / b), a % b];
  const range = n => Array.from({ length: n }, (_, i) => i);

  function cell(text, mark, marks, opts = {}) {
    const style = [mark ? marks[mark][0] : "", opts.style || ""].filter(Boolean).join("; ");
    let attrs = opts.cls ? ` class="${opts.cls}"` : "";
    if (mark) attrs += ` data-mark="${mark}"`;
    if (style) attrs += ` style="${style}"`;
    if (opts.title) attrs += ` title="${esc(opts.title)}"`;
    return `<td${attrs}>${esc(text)}</td>`;
  }
  function table(grid, rows, opts = {}) {
    const lines = [];
    if (opts.colLabels) {
      lines.push("<tr>" + (opts.rowLabels ? "<th></th>" : "") + opts.colLabels.map(c => `<th>${c}</th>`).join("") + "</tr>");
    }
    rows.forEach((cells, r) => lines.push("<tr>" + (opts.rowLabels ? `<th>${opts.rowLabels[r]}</th>` : "") + cells.join("") + "</tr>"));
    return `<table class="${opts.cls || "sg"}" data-grid="${grid}">${lines.join("")}</table>`;
  }
  const fig = (title, tbl, note) =>
    `<div class="fig"><div class="title">${esc(title)}</div>${tbl}${note ? `<div class="note">${esc(note)}</div>` : ""}</div>`;
  function legend(marks) {
    const swatch = "display:inline-block;width:1.4em;border:1px solid #ced4da;margin-right:4px;vertical-align:middle";
    const items = Object.values(marks).filter(m => m[1]).map(([style, text]) =>
      `<span style="display:inline-block;margin-right:16px"><span style="${swatch};${style}">&nbsp;</span>${esc(text)}</span>`);
    return `<div style="margin:4px 0 6px 0;font-size:12px">${items.join("")}</div>`;
  }
  const messageBox = (message, role = "message") =>
    `<div data-role="${role}" style="border:1px solid #f08c00;background:#fff4e6;color:#212529;padding:8px 12px;font-size:13px;max-width:48em">${esc(message)}</div>`;
  const wrap = (data, name, body) => `${data.css || ""}<div class="seglib-${name} seglib-cm">${body}</div>`;
  // A grid of numbers, some cells marked; fmt and the "z" class for zeros as _grid_table / _values_table.
  function grid(name, values, marks, legendMarks, opts = {}) {
    const f = opts.fmt || fmt2, label = opts.label || name;
    return table(name, values.map((row, i) => row.map((v, j) => {
      const text = f(v), mark = marks.get(`${i},${j}`);
      return cell(text, mark, legendMarks, { title: `${label}[${i}, ${j}]`, cls: opts.zeros && text === "0" && !mark ? "z" : "" });
    })));
  }
  const marksOf = (cells, mark) => new Map(cells.map(([r, c]) => [`${r},${c}`, mark]));

  // ------------------------------------------------------------------ convolution as a matrix
  const convMatrix = {
    controls: data => [
      ["height", "input H", data.limits.input_size], ["width", "input W", data.limits.input_size],
      ["kernel_size", "kernel size", data.limits.kernel_size], ["stride", "stride", data.limits.stride],
      ["padding", "padding", data.limits.padding], ["output_index", "output pixel", [0, 63]],
    ].map(([name, label, [min, max]]) => ({ name, label, min, max })),
    render(data, s, G) {
      const [h, w, k, st, p] = [s.height, s.width, s.kernel_size, s.stride, s.padding];
      const view = data.views[[h, w, k, st, p].join(",")];
      if (view.error !== undefined) return { html: wrap(data, "conv-matrix", messageBox(G(view.error))), limits: { output_index: null } };
      const x = G(view.x), wt = G(view.w), y = G(view.y), cty = G(view.Cty);
      const hOut = y.length, wOut = y[0].length, nOut = hOut * wOut, nIn = h * w;
      const index = Math.min(s.output_index, nOut - 1);
      const C = G(view.C).map(pairs => { const row = new Array(nIn).fill(0); for (let i = 0; i < pairs.length; i += 2) row[pairs[i]] = pairs[i + 1]; return row; });
      const reads = range(nIn).filter(q => C[index][q] !== 0);
      const [oi, oj] = divmod(index, wOut), M = data.marks;
      const feeds = new Set(reads.map(q => divmod(q, w).join(",")));
      const window = new Set(); range(k).forEach(u => range(k).forEach(v => window.add(`${oi * st - p + u},${oj * st - p + v}`)));
      const inputRows = range(h + 2 * p).map(a => range(w + 2 * p).map(b => {
        const i = a - p, j = b - p;
        if (i >= 0 && i < h && j >= 0 && j < w) {
          return cell(fmtG(x[i][j]), feeds.has(`${i},${j}`) ? "feeds" : null, M, { title: `x[${i}, ${j}]: column ${i * w + j} of C` });
        }
        return cell("0", window.has(`${i},${j}`) ? "window" : null, M, { cls: "pad", title: "zero padding" });
      }));
      const values = (name, vals, marks) => grid(name, vals, marks, M, { fmt: fmtG, label: name === "Cty" ? "Cᵀ y" : name });
      const matrix = transpose => {
        const rows = transpose ? range(nIn).map(q => range(nOut).map(o => C[o][q])) : C;
        const [gname, line, hit] = transpose ? ["Ct", "col", "spread"] : ["C", "row", "tap"];
        const cells = rows.map((vals, r) => vals.map((v, c) =>
          cell(fmtG(v), (transpose ? c : r) === index ? (v !== 0 ? hit : line) : null, M, { cls: v ? "" : "z" })));
        const outLabels = range(nOut).map(o => o === index ? `<b style="color:#e8590c">${o}</b>` : String(o));
        const inLabels = range(nIn).map(String);
        return table(gname, cells, { cls: "sg m", colLabels: transpose ? outLabels : inLabels, rowLabels: transpose ? inLabels : outLabels });
      };
      const sum = reads.length
        ? `y[${oi}, ${oj}] = (row ${index} of C) · x = ${reads.map(q => { const [r, c] = divmod(q, w); return `${fmtG(C[index][q])}·${fmtG(x[r][c])}`; }).join(" + ")} = ${fmtG(y[oi][oj])}`
        : `y[${oi}, ${oj}] reads only zero padding: row ${index} of C is all zeros, so y[${oi}, ${oj}] = 0.`;
      const op = view.output_padding, opText = op[0] === op[1] ? op[0] : `(${op[0]}, ${op[1]})`;
      const out = new Map([[`${oi},${oj}`, "output"]]);
      const html =
        `<div style="font-size:13px">kernel ${k}×${k}, stride ${st}, padding ${p}: input ${h}×${w} → output ${hOut}×${wOut}. Following output pixel y[${oi}, ${oj}], row ${index} of C.</div>` +
        legend(M) + '<div class="sec">Convolution as a matrix: y = C x</div>' +
        fig(`input x (${h}×${w})`, table("x", inputRows), p ? `zero padding ${p} dashed` : "") +
        fig(`kernel w (${k}×${k})`, values("w", wt, new Map())) +
        fig(`y = C x (${hOut}×${wOut})`, values("y", y, out), "equals F.conv2d(x, w)") + "<br>" +
        fig(`C (${nOut}×${nIn})`, matrix(false), `row o is output pixel (o // ${wOut}, o % ${wOut}); column q is input pixel (q // ${w}, q % ${w})`) +
        `<div data-role="sum" style="font-size:12px;margin:0 0 4px 0">${esc(sum)}</div>` +
        '<div class="sec">Transposed convolution: Cᵀ y goes back to the input size</div>' +
        fig(`Cᵀ (${nIn}×${nOut})`, matrix(true)) +
        fig(`y (${hOut}×${wOut})`, values("y2", y, out)) +
        fig(`Cᵀ y (${h}×${w})`, values("Cty", cty, new Map(reads.map(q => [divmod(q, w).join(","), "spread"]))),
          `equals F.conv_transpose2d(y, w, stride=${st}, padding=${p}, output_padding=${opText}); where several outputs spread to one pixel, their contributions add up`);
      return { html: wrap(data, "conv-matrix", html), limits: { output_index: nOut - 1 } };
    },
  };

  // ------------------------------------------------------------------ upsampling
  const upsampling = {
    controls: data => [
      { name: "input_size", label: "input size", min: data.limits.input_size[0], max: data.limits.input_size[1] },
      { name: "scale", label: "scale", options: [["×2", 2], ["×3", 3]] },
      { name: "kernel_size", label: "kernel k", min: data.limits.kernel_size[0], max: data.limits.kernel_size[1] },
      { name: "pattern", label: "input", options: Object.entries(data.patterns).map(([key, text]) => [text, key]) },
      { name: "input_index", label: "follow pixel", min: 0, max: 15 },
    ],
    render(data, s, G) {
      const n = s.input_size, sc = s.scale, k = s.kernel_size, index = Math.min(s.input_index, n * n - 1);
      const v = data.views[[n, sc, k, s.pattern, index].join(",")], M = data.marks;
      const [r, c] = divmod(index, n), big = n * sc, m = (n - 1) * sc + 1, p = v.padding, op = v.output_padding;
      const reach = name => marksOf(G(v.footprints[name]), "reach");
      const f = (title, name, values, marks, note) => fig(title, grid(name, values, marks, M, { zeros: true }), note);
      const x = G(v.x), indices = G(v.indices);
      const maxima = new Map(indices.flat().map(q => [divmod(q, big).join(","), "max"]));
      maxima.set(divmod(indices[r][c], big).join(","), "reach");
      const flat = indices.flat().join(", ");
      const checker = k % sc
        ? `k = ${k} is not a multiple of the stride ${sc}: output pixels are covered by different numbers of kernel copies, the source of checkerboard artifacts (pick the 'all ones' input to see it).`
        : `k = ${k} is a multiple of the stride ${sc}: inside the map every output pixel is covered by the same number of kernel copies.`;
      const html =
        `<div style="font-size:13px">input ${n}×${n}, scale ${sc}: unpooling gives ${big}×${big}. Following input pixel x[${r}, ${c}] = ${fmt2(x[r][c])}: the green cells are the outputs it changes.</div>` +
        legend(M) + '<div class="sec">Input</div>' +
        f(`input x (${n}×${n})`, "x", x, new Map([[`${r},${c}`, "source"]]), data.patterns[s.pattern]) +
        '<div class="sec">Unpooling: fixed rules, nothing to learn</div>' +
        f(`nearest neighbour (${big}×${big})`, "nearest", G(v.nearest), reach("nearest"), `each value copied into its ${sc}×${sc} block; equals F.interpolate(x, scale_factor=${sc}, mode='nearest')`) +
        f(`bed of nails (${big}×${big})`, "bed_of_nails", G(v.bed_of_nails), reach("bed_of_nails"), `each value at the top-left of its ${sc}×${sc} block, zeros elsewhere`) + "<br>" +
        f(`encoder map before pooling (${big}×${big})`, "pool_map", G(v.pool_map), maxima, `max-pool ${sc}×${sc}, stride ${sc} keeps each block's maximum and remembers where it was (green: where x[${r}, ${c}] goes back)`) +
        f(`max-pooled (${n}×${n})`, "pooled", G(v.pooled), new Map(), `remembered positions (flat indices): ${flat}`) +
        f(`max unpooling of x (${big}×${big})`, "max_unpool", G(v.max_unpool), reach("max_unpool"), "x put back where the maxima were; equals F.max_unpool2d(x, indices)") +
        '<div class="sec">Interpolation: insert zeros, then apply a fixed filter</div>' +
        f(`x with zeros inserted (${m}×${m})`, "zero_inserted", G(v.zero_inserted), new Map([[`${r * sc},${c * sc}`, "source"]]), `${sc - 1} zero${sc > 2 ? "s" : ""} between neighbours, none outside`) +
        f(`bilinear kernel (${2 * sc - 1}×${2 * sc - 1})`, "bilinear_kernel", G(v.bilinear_kernel), new Map(), "fixed: nothing to learn") +
        f(`bilinear interpolation (${m}×${m})`, "bilinear", G(v.bilinear), reach("bilinear"), `the zero-inserted x filtered with the kernel (padding ${sc - 1}); equals F.interpolate(x, size=${m}, mode='bilinear', align_corners=True)`) +
        '<div class="sec">Transposed convolution: the filter is learned</div>' +
        f(`kernel w (${k}×${k})`, "weight", G(v.weight), new Map(), "all ones here; training would learn these weights") +
        f(`transposed convolution (${big}×${big})`, "transposed", G(v.transposed), reach("transposed"),
          `each input pastes x·w at stride ${sc}; overlaps add up; ` + (p ? `padding ${p} crops ${p} from each side` : "nothing cropped") +
          (op ? `, output_padding ${op} keeps ${op} more at the bottom and right` : "") + `. Equals F.conv_transpose2d(x, w, stride=${sc}, padding=${p}, output_padding=${op}).`) +
        `<div data-role="checkerboard" class="note" style="max-width:48em">${esc(checker)}</div>`;
      return { html: wrap(data, "upsampling", html), limits: { input_index: n * n - 1 } };
    },
  };

  // ------------------------------------------------------------------ receptive field
  const receptiveField = {
    controls: data => [["kernel_size", "kernel k"], ["dilation", "dilation D"], ["num_layers", "layers"], ["stride", "stride"]]
      .map(([name, label]) => ({ name, label, min: data.limits[name][0], max: data.limits[name][1] })),
    render(data, s, G) {
      const [k, d, layers, st] = [s.kernel_size, s.dilation, s.num_layers, s.stride];
      const v = data.views[[k, d, layers, st].join(",")], M = data.marks, field = v.field, side = d * (k - 1) + 1;
      const taps = new Map(); range(k).forEach(i => range(k).forEach(j => taps.set(`${i * d},${j * d}`, "tap")));
      const paths = v.paths === null ? null : G(v.paths);
      const nRead = paths ? paths.flat().filter(c => c !== 0).length : null;
      const stack = layers > 1 ? `${layers} stacked ${k}×${k} convolutions` : `one ${k}×${k} convolution`;
      const formula = `1 + ${range(layers).map(i => `${d}·(${k}-1)·${st ** i}`).join(" + ")} = ${field}`;
      let html =
        `<div style="font-size:13px">${stack}, dilation ${d}, stride ${st}, no padding. The centre output pixel reads the input pixels shaded below.</div>` +
        legend(M) +
        `<div data-role="field" data-value="${field}" style="font-size:16px;font-weight:bold;margin:6px 0">receptive field: ${field}×${field} input pixels</div>` +
        `<div data-role="formula" style="font-size:12px">${esc(`R = 1 + Σ over layers of D·(k-1)·(product of the earlier strides) = ${formula}`)}</div>` +
        `<div data-role="growth" style="font-size:12px">${esc(v.growth.map((g, i) => `after layer ${i + 1}: ${g}`).join(", "))}</div>`;
      if (paths) {
        html += `<div data-role="read" data-value="${nRead}" style="font-size:12px">pixels actually read: ${nRead} of ${field * field}` +
          (nRead < field * field ? " (the holes between dilated taps are never read: the gridding effect)" : "") + "</div>";
      }
      if (k > 1 && d > 1 && layers === 1) {
        html += `<div class="note" style="max-width:48em">The same ${k * k} weights as with dilation 1 cover ${side}×${side} pixels instead of ${k}×${k}: a larger view at no extra cost.</div>`;
      }
      html += '<div class="sec">Kernel and receptive field</div>' +
        fig(`dilated kernel (${side}×${side})`, grid("dilated_kernel", G(v.dilated_kernel), taps, M, { fmt: fmtG, zeros: true }),
          `ops.dilate_kernel: the ${k}×${k} weights 1..${k * k} with ${d - 1} zero${d !== 2 ? "s" : ""} between taps`);
      if (paths) {
        const margin = data.margin, n = field + 2 * margin, biggest = Math.max(...paths.flat());
        const size = Math.max(11, Math.min(24, Math.floor(300 / n))), cellStyle = `width:${size}px;height:${size + 1}px`;
        const centre = field % 2 ? (field - 1) / 2 : null;
        const rows = range(n).map(i => range(n).map(j => {
          const r = i - margin, c = j - margin, inside = r >= 0 && r < field && c >= 0 && c < field;
          const count = inside ? paths[r][c] : 0;
          const style = cellStyle + (centre !== null && r === centre && c === centre ? ";outline:2px solid #e8590c;outline-offset:-2px" : "");
          if (count) {
            return cell("", "read", M, { title: `input pixel (${r}, ${c}) of the field: ${count} path(s)`, style: `${style};background:rgba(28,126,214,${(0.3 + 0.7 * count / biggest).toFixed(2)})` });
          }
          if (inside) return cell("", "hole", M, { title: `input pixel (${r}, ${c}) of the field: not read`, style });
          return `<td style="${cellStyle}"></td>`;
        }));
        html += fig(`input around the field (${n}×${n})`, table("input", rows, { cls: "sg px" }),
          `the ${field}×${field} field with a ${margin}-pixel border` + (centre !== null ? "; outlined: the input pixel right under the output pixel" : "") + "; hover a cell for its path count");
      } else {
        html += messageBox(`The receptive field is ${field}×${field} input pixels, too large to draw (at most ${data.max_drawn}×${data.max_drawn}). Use fewer layers, a smaller dilation, kernel or stride.`, "too-large");
      }
      return { html: wrap(data, "receptive-field", html), limits: {} };
    },
  };

  // ------------------------------------------------------------------ IoU
  const iou = {
    controls: data => [
      { name: "dx", label: "move right", min: data.limits.shift[0], max: data.limits.shift[1] },
      { name: "dy", label: "move down", min: data.limits.shift[0], max: data.limits.shift[1] },
      { name: "scale", label: "scale", options: data.scales.map(v => [v.toFixed(1), v]), slider: true },
      { name: "shape", label: "shape", options: Object.keys(data.stencils).map(v => [v, v]) },
      { name: "size", label: "target size", min: data.limits.size[0], max: data.limits.size[1] },
    ],
    render(data, s) {
      const g = data.grid_size, M = data.marks, size = s.size, side = Math.floor(size * s.scale + 0.5);
      const top = Math.floor((g - size) / 2), offset = Math.floor((size - side) / 2);
      const place = (st, r0, c0) => { const m = range(g).map(() => new Array(g).fill(false));
        st.forEach((row, i) => [...row].forEach((b, j) => { const r = r0 + i, c = c0 + j; if (b === "1" && r >= 0 && r < g && c >= 0 && c < g) m[r][c] = true; })); return m; };
      const target = place(data.stencils[s.shape][size], top, top);
      const pred = place(data.stencils[s.shape][side], top + offset + s.dy, top + offset + s.dx);
      let tp = 0, fp = 0, fn = 0, tn = 0;
      range(g).forEach(i => range(g).forEach(j => { const t = target[i][j], q = pred[i][j]; if (t && q) tp++; else if (q) fp++; else if (t) fn++; else tn++; }));
      const union = tp + fp + fn, iouV = union ? tp / union : NaN, dice = union ? 2 * tp / (2 * tp + fp + fn) : NaN, acc = (tp + tn) / (g * g);
      const num = v => Number.isFinite(v) ? v.toFixed(3) : "undefined (both masks are empty)";
      const mask = (name, fn2) => table(name, range(g).map(i => range(g).map(j => { const mk = fn2(i, j); return cell("", mk, M, { title: `(${i}, ${j})` }); })), { cls: "sg px iou" });
      const shift = [s.dx ? `${Math.abs(s.dx)} ${s.dx > 0 ? "right" : "left"}` : "", s.dy ? `${Math.abs(s.dy)} ${s.dy > 0 ? "down" : "up"}` : ""].filter(Boolean);
      const relation = Number.isFinite(iouV) ? `Dice = 2·IoU / (1 + IoU) = 2·${iouV.toFixed(3)} / ${(1 + iouV).toFixed(3)} = ${(2 * iouV / (1 + iouV)).toFixed(3)}` : "Dice = 2·IoU / (1 + IoU)";
      const lines = [
        ["counts", `TP = ${tp}, FP = ${fp}, FN = ${fn}, TN = ${tn} (of ${g * g} pixels)`],
        ["iou", `IoU = TP / (TP + FP + FN) = ${tp} / ${union} = ${num(iouV)}`, iouV],
        ["dice", `Dice = 2·TP / (2·TP + FP + FN) = ${2 * tp} / ${2 * tp + fp + fn} = ${num(dice)}`, dice],
        ["relation", relation + "; the two always agree, so they rank predictions the same way"],
        ["accuracy", `pixel accuracy = (TP + TN) / all = ${tp + tn} / ${g * g} = ${acc.toFixed(3)}` +
          (Number.isFinite(iouV) && acc - iouV > 0.3 ? ": high although the overlap is poor, because the background dominates" : ""), acc],
      ];
      const numbers = lines.map(([role, text, value]) => `<div data-role="${role}"` + (value !== undefined && Number.isFinite(value) ? ` data-value="${value}"` : "") +
        ` style="${role === "iou" || role === "dice" ? "font-size:15px;font-weight:bold;" : ""}margin:2px 0">${esc(text)}</div>`).join("");
      const ticks = [[0.40, "poor"], [0.73, "good"], [0.93, "excellent"]].map(([v, word]) =>
        `<div style="position:absolute;left:${Math.round(100 * v)}%;top:0;height:14px;border-left:1px solid #495057"></div>` +
        `<div style="position:absolute;left:${Math.round(100 * v)}%;top:15px;transform:translateX(-50%);font-size:10px;line-height:1.2;text-align:center;color:#495057">${v.toFixed(2)}<br>${word}</div>`).join("");
      const marker = Number.isFinite(iouV) ? `<div style="position:absolute;left:${(100 * iouV).toFixed(1)}%;top:-3px;width:4px;height:20px;margin-left:-2px;background:#c92a2a"></div>` : "";
      const html =
        `<div style="font-size:13px">target: a ${size}-pixel ${s.shape}; prediction: ${side} pixels across (×${fmtG(s.scale)}), ${shift.length ? "moved " + shift.join(" and ") : "not moved"}.</div>` +
        legend(Object.fromEntries(Object.entries(M).filter(([key]) => ["tp", "fp", "fn"].includes(key)))) +
        fig(`target (${g}×${g})`, mask("target", (i, j) => target[i][j] ? "in" : null)) +
        fig(`prediction (${g}×${g})`, mask("prediction", (i, j) => pred[i][j] ? "in" : null)) +
        fig("both, overlaid", mask("overlay", (i, j) => pred[i][j] ? (target[i][j] ? "tp" : "fp") : (target[i][j] ? "fn" : "tn"))) +
        `<div class="metrics">${numbers}</div>` +
        '<div style="font-size:11px;color:#495057;margin-top:8px">how an IoU looks (red: this one)</div>' +
        `<div style="position:relative;width:360px;max-width:calc(100% - 30px);height:14px;margin:3px 8px 34px 0;background:linear-gradient(to right,#ffe3e3,#fff3bf,#d3f9d8);border:1px solid #ced4da">${ticks}${marker}</div>`;
      return { html: wrap(data, "iou", html), limits: {} };
    },
  };

  const EXPLORERS = { "conv-matrix": convMatrix, upsampling, "receptive-field": receptiveField, iou };

  // ------------------------------------------------------------------ controls and mounting
  function mount(root) {
    root.dataset.mounted = "1";
    const explorer = EXPLORERS[root.dataset.explorer];
    const data = JSON.parse(root.querySelector("script.seglib-data").textContent);
    const G = i => data.grids[i];
    const settings = Object.assign({}, data.start);
    const bar = document.createElement("div");
    bar.className = "seglib-controls";
    const inputs = {};
    for (const control of explorer.controls(data)) {
      const label = document.createElement("label");
      const out = document.createElement("output");
      let input;
      if (control.options && !control.slider) {
        input = document.createElement("select");
        control.options.forEach(([text, value]) => { const o = document.createElement("option"); o.textContent = text; o.value = JSON.stringify(value); input.appendChild(o); });
        input.value = JSON.stringify(settings[control.name]);
        input.addEventListener("change", () => { settings[control.name] = JSON.parse(input.value); update(); });
      } else {
        input = document.createElement("input");
        input.type = "range";
        input.step = 1;
        if (control.options) {  // a slider over a list of values: its position is the index
          input.min = 0; input.max = control.options.length - 1;
          input.value = control.options.findIndex(([, value]) => value === settings[control.name]);
          input.addEventListener("input", () => { settings[control.name] = control.options[+input.value][1]; update(); });
        } else {
          input.min = control.min; input.max = control.max; input.value = settings[control.name];
          input.addEventListener("input", () => { settings[control.name] = +input.value; update(); });
        }
      }
      input.dataset.control = control.name;
      input.setAttribute("aria-label", control.label);
      label.innerHTML = `<span>${esc(control.label)}</span>`;
      if (control.options && !control.slider) out.hidden = true;  // the select shows its value
      label.append(input, out);
      bar.appendChild(label);
      inputs[control.name] = { input, out, control };
    }
    const view = root.querySelector(".seglib-static-view");
    root.insertBefore(bar, view);
    function update() {
      const { html, limits } = explorer.render(data, settings, G);
      for (const [name, max] of Object.entries(limits)) {  // a range that follows another control
        const { input } = inputs[name];
        input.disabled = max === null;
        if (max !== null) { input.max = max; settings[name] = Math.min(settings[name], max); input.value = settings[name]; }
      }
      for (const { input, out, control } of Object.values(inputs)) {
        out.textContent = control.options ? control.options.find(([, value]) => value === settings[control.name])[0] : settings[control.name];
        if (input.disabled) out.textContent = "–";
      }
      view.innerHTML = html;
      root.dataset.settings = JSON.stringify(settings);
    }
    update();
  }

  function mountAll() {
    document.querySelectorAll(".seglib-static:not([data-mounted])").forEach(root => {
      try { mount(root); } catch (error) { console.error("seglib explorer:", error); }
    });
  }
  const style = document.createElement("style");
  style.textContent =
    ".seglib-static .seglib-controls{display:flex;flex-wrap:wrap;gap:4px 18px;margin:4px 0 8px 0;font:13px sans-serif}" +
    ".seglib-static .seglib-controls label{display:flex;align-items:center;gap:6px}" +
    ".seglib-static .seglib-controls span{min-width:6.5em;color:#495057}" +
    ".seglib-static .seglib-controls input[type=range]{width:9em}" +
    ".seglib-static .seglib-controls output{min-width:2em;font-variant-numeric:tabular-nums}" +
    ".seglib-static .seglib-static-view{overflow-x:auto;max-width:100%}";
  document.head.appendChild(style);
  window.seglibExplorers = { mountAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
