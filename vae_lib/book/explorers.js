/* The book's explorers, computed in the page: the chapters' closed forms and trained decoders in
   plain JavaScript, drawn as SVG, so that they run with no kernel in Jupyter, in Colab and on the
   static site (vae_lib/book/live.py writes the HTML that carries this file and each explorer's data).

   Every explorer is a <div class="vae-explorer" data-kind=...> holding its spec as JSON. This file
   defines window.VAEExplorers once, then mounts every explorer not yet mounted, wherever it is run. */
(function () {
  "use strict";
  if (window.VAEExplorers) { window.VAEExplorers.mountAll(); return; }
  var SVG = "http://www.w3.org/2000/svg";

  // --- Numbers -------------------------------------------------------------------------------------

  /* mulberry32: a 32-bit seeded generator, mirrored bit for bit by vae_lib.book.live.seeded_uniform. */
  function mulberry32(seed) {
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /* n x dim standard normals (row-major), Box-Muller on pairs of uniforms (live.seeded_normal). */
  function seededNormal(n, dim, seed) {
    var next = mulberry32(seed), total = n * dim, out = new Float64Array(total);
    for (var i = 0; i < total; i += 2) {
      var u1 = 1 - next(), u2 = next();  // u1 in (0, 1]: its log is finite
      var radius = Math.sqrt(-2 * Math.log(u1)), angle = 2 * Math.PI * u2;
      out[i] = radius * Math.cos(angle);
      if (i + 1 < total) out[i + 1] = radius * Math.sin(angle);
    }
    return out;
  }

  var F = {
    /* eq. kl-two-gaussians, one unit: KL(N(mq, e^lq) || N(mp, e^lp)) */
    klGaussians: function (mq, lq, mp, lp) {
      return 0.5 * (lp - lq + (Math.exp(lq) + (mq - mp) * (mq - mp)) / Math.exp(lp) - 1);
    },
    /* eq. kl-closed-form: KL(N(mu, diag e^logvar) || N(0, I)), summed over units */
    klToStandardNormal: function (mu, logvar) {
      var s = 0;
      for (var j = 0; j < mu.length; j++) s += 0.5 * (mu[j] * mu[j] + Math.exp(logvar[j]) - 1 - logvar[j]);
      return s;
    },
    normalDensity: function (x, mean, logvar) {
      var v = Math.exp(logvar);
      return Math.exp(-0.5 * (x - mean) * (x - mean) / v) / Math.sqrt(2 * Math.PI * v);
    },
    /* KL(N(m0, S0) || N(m1, S1)) for 2-D Gaussians, S given as [s11, s12, s22] */
    klGaussians2: function (m0, S0, m1, S1) {
      var det1 = S1[0] * S1[2] - S1[1] * S1[1], det0 = S0[0] * S0[2] - S0[1] * S0[1];
      var i11 = S1[2] / det1, i12 = -S1[1] / det1, i22 = S1[0] / det1;  // S1^-1
      var trace = i11 * S0[0] + 2 * i12 * S0[1] + i22 * S0[2];
      var d0 = m1[0] - m0[0], d1 = m1[1] - m0[1];
      var maha = i11 * d0 * d0 + 2 * i12 * d0 * d1 + i22 * d1 * d1;
      return 0.5 * (trace + maha - 2 + Math.log(det1 / det0));
    },
    /* how many eigenvalues exceed s2 (diagnostics.retained_directions) */
    countAbove: function (values, s2) {
      var n = 0;
      for (var i = 0; i < values.length; i++) if (values[i] > s2) n++;
      return n;
    }
  };

  function bytes(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function float32s(b64) { return new Float32Array(bytes(b64).buffer); }

  /* A decoder exported by live.export_mlp: per-row int8 weights (zlib-deflated), float32 scales and biases.
     Inflating is asynchronous (DecompressionStream), so an MLP is made by MLP.load(spec) -> Promise. */
  function inflate(b64) {  // -> Promise of an ArrayBuffer
    var stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer();
  }
  function MLP(layers) { this.layers = layers; }
  MLP.load = function (spec) {
    return Promise.all(spec.layers.map(function (L) {
      return inflate(L.weight).then(function (buffer) {
        var q = new Int8Array(buffer);
        var scale = float32s(L.scale), w = new Float32Array(q.length);
        for (var r = 0; r < L.out; r++) for (var c = 0; c < L.in; c++) w[r * L.in + c] = q[r * L.in + c] * scale[r];
        return {n: L.in, m: L.out, w: w, b: float32s(L.bias), act: L.activation};
      });
    })).then(function (layers) { return new MLP(layers); });
  };
  /* z (array of length J) -> Float64Array of the output activations (pixel probabilities) */
  MLP.prototype.forward = function (z) {
    var h = Float64Array.from(z);
    this.layers.forEach(function (L) {
      var out = new Float64Array(L.m);
      for (var r = 0; r < L.m; r++) {
        var s = L.b[r], row = r * L.n;
        for (var c = 0; c < L.n; c++) s += L.w[row + c] * h[c];
        out[r] = L.act === "relu" ? (s > 0 ? s : 0) : L.act === "sigmoid" ? 1 / (1 + Math.exp(-s)) : s;
      }
      h = out;
    });
    return h;
  };

  // --- Drawing ---------------------------------------------------------------------------------------

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  /* Text with _{sub} and ^{sup} marks, as tspans (the book's notation without a TeX engine). */
  function text(parent, x, y, s, opt) {
    opt = opt || {};
    var t = el("text", {x: x, y: y, "text-anchor": opt.anchor || "middle", "font-size": opt.size || 11,
                        "font-weight": opt.weight, fill: opt.fill || "#222", transform: opt.transform,
                        "dominant-baseline": opt.baseline}, parent);
    setText(t, s);
    return t;
  }
  function setText(t, s) {
    while (t.firstChild) t.removeChild(t.firstChild);
    var re = /([_^])\{([^}]*)\}/g, last = 0, m;
    while ((m = re.exec(s)) !== null) {
      if (m.index > last) t.appendChild(document.createTextNode(s.slice(last, m.index)));
      var span = el("tspan", {"baseline-shift": m[1] === "_" ? "sub" : "super", "font-size": "75%"}, t);
      span.textContent = m[2];
      // the text after a shifted span must return to the baseline
      var back = el("tspan", {"baseline-shift": "0"}, t); back.textContent = "\u200b";
      last = re.lastIndex;
    }
    if (last < s.length) t.appendChild(document.createTextNode(s.slice(last)));
  }

  var SUPER = {"-": "\u207b", "0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3", "4": "\u2074",
               "5": "\u2075", "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079"};
  function fmt(v, digits) {
    if (digits === undefined) digits = 2;
    var s = Math.abs(v) < 0.5 * Math.pow(10, -digits) ? (0).toFixed(digits) : v.toFixed(digits);
    return s.replace("-", "\u2212");
  }
  function fmtTick(v, log) {
    if (log) {
      var e = Math.round(Math.log10(v));
      if (Math.abs(Math.pow(10, e) - v) < 1e-9 * v) return "10" + String(e).split("").map(function (c) { return SUPER[c]; }).join("");
    }
    return String(+v.toPrecision(4)).replace("-", "\u2212");
  }
  /* 3 significant digits at most, the way the chapters print a slider value */
  function fmtValue(v, digits) {
    if (digits !== undefined) return fmt(v, digits);
    var a = Math.abs(v);
    var s = a >= 100 ? v.toFixed(0) : a >= 1 ? v.toPrecision(3) : a >= 0.001 ? v.toPrecision(2) : v.toExponential(1);
    return String(+s === 0 ? "0" : s).replace("-", "\u2212");
  }

  /* Axes in a box {x, y, w, h} of SVG units. opt: xlim, ylim, xlog, ylog, xticks, yticks, xlabel, ylabel, title. */
  function Axes(svg, box, opt) {
    var self = this;
    this.box = box;
    var tx = opt.xlog ? Math.log10 : function (v) { return v; };
    var ty = opt.ylog ? Math.log10 : function (v) { return v; };
    var x0 = tx(opt.xlim[0]), x1 = tx(opt.xlim[1]), y0 = ty(opt.ylim[0]), y1 = ty(opt.ylim[1]);
    this.sx = function (v) { return box.x + (tx(v) - x0) / (x1 - x0) * box.w; };
    this.sy = function (v) { return box.y + box.h - (ty(v) - y0) / (y1 - y0) * box.h; };
    this.ix = function (px) { var u = x0 + (px - box.x) / box.w * (x1 - x0); return opt.xlog ? Math.pow(10, u) : u; };
    this.iy = function (py) { var u = y0 + (box.y + box.h - py) / box.h * (y1 - y0); return opt.ylog ? Math.pow(10, u) : u; };
    var id = "clip" + Math.random().toString(36).slice(2);
    var clip = el("clipPath", {id: id}, el("defs", {}, svg));
    el("rect", {x: box.x, y: box.y, width: box.w, height: box.h}, clip);
    this.back = el("g", {"clip-path": "url(#" + id + ")"}, svg);  // drawn once
    this.g = el("g", {"clip-path": "url(#" + id + ")"}, svg);     // redrawn
    this.front = el("g", {}, svg);
    el("rect", {x: box.x, y: box.y, width: box.w, height: box.h, fill: "none", stroke: "#333", "stroke-width": 0.8}, this.front);
    (opt.xticks || []).forEach(function (t) {
      var px = self.sx(t);
      el("line", {x1: px, x2: px, y1: box.y + box.h, y2: box.y + box.h + 4, stroke: "#333", "stroke-width": 0.8}, self.front);
      text(self.front, px, box.y + box.h + 15, fmtTick(t, opt.xlog), {size: 10});
    });
    (opt.yticks || []).forEach(function (t) {
      var py = self.sy(t);
      el("line", {x1: box.x - 4, x2: box.x, y1: py, y2: py, stroke: "#333", "stroke-width": 0.8}, self.front);
      text(self.front, box.x - 6, py + 3.5, fmtTick(t, opt.ylog), {size: 10, anchor: "end"});
    });
    if (opt.xlabel) text(self.front, box.x + box.w / 2, box.y + box.h + 30, opt.xlabel, {size: 11});
    if (opt.ylabel) {
      var cx = box.x - (opt.ylabelGap || 34), cy = box.y + box.h / 2;
      text(self.front, cx, cy, opt.ylabel, {size: 11, transform: "rotate(-90 " + cx + " " + cy + ")"});
    }
    this.title = text(self.front, box.x + box.w / 2, box.y - 8, opt.title || "", {size: 11});
  }
  Axes.prototype.clear = function () { while (this.g.firstChild) this.g.removeChild(this.g.firstChild); };
  Axes.prototype.path = function (xs, ys, attrs, parent) {
    var d = "";
    for (var i = 0; i < xs.length; i++) d += (i ? "L" : "M") + this.sx(xs[i]).toFixed(2) + " " + this.sy(ys[i]).toFixed(2);
    attrs.d = d + (attrs.closed ? "Z" : "");
    delete attrs.closed;
    if (attrs.fill === undefined) attrs.fill = "none";
    return el("path", attrs, parent || this.g);
  };
  /* the ellipse {z : (z - m)^T S^-1 (z - m) = r^2} of a 2-D covariance S = [s11, s12, s22] */
  Axes.prototype.ellipse = function (m, S, r, attrs, parent) {
    var l11 = Math.sqrt(S[0]), l21 = S[1] / l11, l22 = Math.sqrt(Math.max(S[2] - l21 * l21, 0));  // Cholesky
    var xs = [], ys = [];
    for (var k = 0; k <= 96; k++) {
      var t = 2 * Math.PI * k / 96, c = Math.cos(t), s = Math.sin(t);
      xs.push(m[0] + r * l11 * c); ys.push(m[1] + r * (l21 * c + l22 * s));
    }
    attrs.closed = true;
    return this.path(xs, ys, attrs, parent);
  };

  function legend(parent, x, y, items) {
    items.forEach(function (it, i) {
      var yy = y + 14 * i;
      if (it.marker) el("circle", {cx: x + 9, cy: yy - 3.5, r: 3, fill: it.color}, parent);
      else el("line", {x1: x, x2: x + 18, y1: yy - 3.5, y2: yy - 3.5, stroke: it.color, "stroke-width": it.width || 1.6,
                       "stroke-dasharray": it.dash}, parent);
      text(parent, x + 23, yy, it.label, {size: 10, anchor: "start"});
    });
  }

  function figure(root, spec, width, height) {
    var svg = el("svg", {viewBox: "0 0 " + width + " " + height, width: width, role: "img",
                         "aria-label": spec.description, "font-family": "DejaVu Sans, Helvetica, Arial, sans-serif"});
    svg.style.maxWidth = "100%"; svg.style.height = "auto"; svg.style.display = "block";
    var holder = root.querySelector(".vae-explorer-figure"), waiting = holder.querySelector(".vae-explorer-waiting");
    if (waiting) holder.removeChild(waiting);  // the text shown where no script runs
    holder.appendChild(svg);
    return svg;
  }

  /* a 28 x 28 (or any square) grey image: 0 white, 1 black, as the chapters' gray_r figures */
  function greyPixels(ctx, probs, side, ox, oy) {
    var img = ctx.createImageData(side, side);
    for (var i = 0; i < side * side; i++) {
      var v = Math.round(255 * (1 - probs[i]));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, ox || 0, oy || 0);
  }
  /* a <canvas> of pw x ph pixels shown at w x h SVG units, its pixels kept sharp */
  function canvasImage(parent, pw, ph, x, y, w, h, label) {
    var fo = el("foreignObject", {x: x, y: y, width: w, height: h}, parent);
    var c = document.createElement("canvas");
    c.width = pw; c.height = ph;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", label);
    c.style.width = w + "px"; c.style.height = h + "px"; c.style.imageRendering = "pixelated"; c.style.display = "block";
    fo.appendChild(c);
    return c;
  }

  var TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var BLUES = ["#eef5fc", "#d6e6f4", "#b7d4ea", "#8fc2de", "#63a8d3", "#3e8ec4", "#2070b4", "#08519c"];

  // --- The explorers -----------------------------------------------------------------------------------

  var KINDS = {};

  /* Chapter 3: q = N(mu, e^v) against a fixed p, with both directions of the KL (eq. kl-two-gaussians). */
  KINDS["kl-gaussians"] = function (root, spec) {
    var d = spec.data, svg = figure(root, spec, 500, 320);
    var ax = new Axes(svg, {x: 65, y: 34, w: 420, h: 240}, {xlim: [-6, 6], ylim: [0, d.y_max], xticks: [-6, -3, 0, 3, 6],
      yticks: [0, 0.5, 1, 1.5].filter(function (t) { return t <= d.y_max; }), xlabel: "z", ylabel: "density"});
    var xs = [];
    for (var i = 0; i < d.n_points; i++) xs.push(-6 + 12 * i / (d.n_points - 1));
    var ps = xs.map(function (x) { return F.normalDensity(x, d.mu_p, d.logvar_p); });
    ax.path(xs, ps, {stroke: "#000", "stroke-width": 1.5}, ax.back);
    legend(ax.front, 380, 54, [{color: "#000", label: "p (fixed)"}, {color: "#ff7f0e", label: "q"}]);
    return function (v) {
      var qs = xs.map(function (x) { return F.normalDensity(x, v.mu_q, v.logvar_q); });
      var kqp = F.klGaussians(v.mu_q, v.logvar_q, d.mu_p, d.logvar_p), kpq = F.klGaussians(d.mu_p, d.logvar_p, v.mu_q, v.logvar_q);
      ax.clear();
      ax.path([xs[0]].concat(xs, [xs[xs.length - 1]]), [0].concat(qs, [0]), {fill: "#ff7f0e", "fill-opacity": 0.25, stroke: "none", closed: true});
      ax.path(xs, qs, {stroke: "#ff7f0e", "stroke-width": 1.5});
      setText(ax.title, "D_{KL}(q \u2016 p) = " + kqp.toFixed(3) + "    D_{KL}(p \u2016 q) = " + kpq.toFixed(3));
      return {kl_qp: kqp, kl_pq: kpq};
    };
  };

  /* Chapter 2: z = mu + sigma * eps for fixed, seeded eps (eq. reparameterisation), and KL(q || p). */
  KINDS["reparameterised-cloud"] = function (root, spec) {
    var d = spec.data, svg = figure(root, spec, 440, 300);
    var ax = new Axes(svg, {x: 52, y: 30, w: 372, h: 248}, {xlim: [-6, 6], ylim: [-4, 4], xticks: [-6, -4, -2, 0, 2, 4, 6],
      yticks: [-4, -2, 0, 2, 4], xlabel: "z_{1}", ylabel: "z_{2}", ylabelGap: 28});
    [1, 2].forEach(function (r) { ax.ellipse([0, 0], [1, 0, 1], r, {stroke: "grey", "stroke-dasharray": "4 3"}, ax.back); });
    var eps = seededNormal(d.n, 2, d.seed), points = [];
    for (var i = 0; i < d.n; i++) {
      var hue = (Math.atan2(eps[2 * i + 1], eps[2 * i]) / (2 * Math.PI) + 1) % 1;
      points.push(el("circle", {r: 1.9, fill: "hsl(" + (360 * hue).toFixed(1) + ",100%,45%)"}, ax.g));
    }
    var rings = [1, 2].map(function () { return el("path", {fill: "none", stroke: "#000", "stroke-width": 1.2}, ax.back); });
    legend(ax.front, 300, 46, [{color: "grey", dash: "4 3", label: "p(z) = N(0, I)"}, {color: "#000", label: "q_{\u03c6}(z | x)"}]);
    root.vaeDebug.eps = eps;
    return function (v) {
      var mu = [v.mu_1, d.mu_2], lv = [v.logvar_1, v.logvar_2], sd = [Math.exp(0.5 * lv[0]), Math.exp(0.5 * lv[1])];
      for (var i = 0; i < d.n; i++) {
        points[i].setAttribute("cx", ax.sx(mu[0] + sd[0] * eps[2 * i]).toFixed(2));  // eq. reparameterisation
        points[i].setAttribute("cy", ax.sy(mu[1] + sd[1] * eps[2 * i + 1]).toFixed(2));
      }
      [1, 2].forEach(function (r, k) {
        var tmp = ax.ellipse(mu, [sd[0] * sd[0], 0, sd[1] * sd[1]], r, {}, ax.back);
        rings[k].setAttribute("d", tmp.getAttribute("d")); ax.back.removeChild(tmp);
      });
      var kl = F.klToStandardNormal(mu, lv);
      setText(ax.title, "D_{KL}(q \u2016 p) = " + kl.toFixed(2) + " nats");
      return {kl: kl};
    };
  };

  /* Chapter 4: a diagonal q against the exact posterior of the linear-Gaussian model; the ELBO is
     log p(x) - KL(q || p(z|x)) (eq. evidence-decomposition), both parts in closed form. */
  KINDS["evidence-decomposition"] = function (root, spec) {
    var d = spec.data, svg = figure(root, spec, 560, 340);
    var m = d.post_mean, S = d.post_cov, half = d.window * Math.sqrt(Math.max(S[0], S[2]));
    var ax = new Axes(svg, {x: 56, y: 34, w: 290, h: 250}, {xlim: [m[0] - half, m[0] + half], ylim: [m[1] - half, m[1] + half],
      xticks: niceTicks(m[0] - half, m[0] + half), yticks: niceTicks(m[1] - half, m[1] + half), xlabel: "z_{1}", ylabel: "z_{2}",
      title: "p(z | x) (filled) and q (red)", ylabelGap: 38});
    d.levels.forEach(function (r, k) {  // filled posterior, outermost first
      ax.ellipse(m, S, r, {fill: BLUES[Math.min(k + 1, BLUES.length - 1)], stroke: "none"}, ax.back);
    });
    var bars = new Axes(svg, {x: 440, y: 46, w: 70, h: 238}, {xlim: [0, 1], ylim: [0, d.y_max], yticks: niceTicks(0, d.y_max),
      ylabel: "\u2212L (nats, from 0)", ylabelGap: 36});
    el("rect", {x: bars.sx(0.2), width: bars.sx(0.8) - bars.sx(0.2), y: bars.sy(-d.log_px), height: bars.sy(0) - bars.sy(-d.log_px),
                fill: "#999"}, bars.back);
    legend(bars.front, 396, 306, [{color: "#999", width: 6, label: "\u2212log p(x)"},
                                   {color: "#d62728", width: 6, label: "D_{KL}(q \u2016 p(z | x))"}]);
    return function (v) {
      var qm = [d.mu[0] + v.shift, d.mu[1]];
      var qS = [Math.exp(d.logvar[0] + v.logvar_shift), 0, Math.exp(d.logvar[1] + v.logvar_shift)];
      var kl = F.klGaussians2(qm, qS, m, S), elbo = d.log_px - kl;
      ax.clear();
      d.q_levels.forEach(function (r) { ax.ellipse(qm, qS, r, {stroke: "#d62728", "stroke-width": 1}); });
      bars.clear();
      var top = Math.min(-elbo, d.y_max);
      el("rect", {x: bars.sx(0.2), width: bars.sx(0.8) - bars.sx(0.2), y: bars.sy(top), height: Math.max(bars.sy(-d.log_px) - bars.sy(top), 0),
                  fill: "#d62728"}, bars.g);
      setText(bars.title, "L = " + elbo.toFixed(2) + ",  D_{KL} = " + kl.toFixed(2));
      return {elbo: elbo, kl: kl};
    };
  };

  /* Chapter 6: the data covariance's eigenvalues against the decoder's s^2 (eq. ppca-optimal-scale). */
  KINDS["decoder-variance"] = function (root, spec) {
    var d = spec.data, svg = figure(root, spec, 500, 330), n = d.n_show;
    var ax = new Axes(svg, {x: 70, y: 50, w: 410, h: 226}, {xlim: [0, n + 1], ylim: [1e-3, 1e4], ylog: true,
      xticks: niceTicks(0, n), yticks: [1e-3, 1e-1, 1e1, 1e3], xlabel: "eigenvalue index i", ylabel: "data variance \u03bb_{i}"});
    var dots = [];
    for (var i = 0; i < n; i++) {
      var lam = d.eigenvalues[i];
      dots.push(el("circle", {cx: ax.sx(i + 1).toFixed(2), cy: ax.sy(Math.max(lam, 1e-4)).toFixed(2), r: 1.5}, ax.back));
    }
    var line = el("line", {x1: ax.box.x, x2: ax.box.x + ax.box.w, stroke: "#d62728", "stroke-width": 1.2}, ax.back);
    legend(ax.front, 90, 70, [{color: "#1f77b4", marker: true, label: "encoded: \u03bb_{i} > s^{2}"},
                              {color: "#b3b3b3", marker: true, label: "collapsed"}, {color: "#d62728", label: "s^{2}"}]);
    var sub = text(ax.front, ax.box.x + ax.box.w / 2, 22, "", {size: 10});
    return function (v) {
      for (var i = 0; i < n; i++) dots[i].setAttribute("fill", d.eigenvalues[i] > v.variance ? "#1f77b4" : "#b3b3b3");
      line.setAttribute("y1", ax.sy(v.variance)); line.setAttribute("y2", ax.sy(v.variance));
      var above = F.countAbove(d.eigenvalues, v.variance), used = Math.min(above, d.latent_dim);
      setText(sub, "s^{2} = " + fmtValue(v.variance) + ": " + above + " eigen-directions above s^{2};");
      setText(ax.title, "a VAE with J = " + d.latent_dim + " units can use at most " + used);
      return {above: above, usable: used};
    };
  };

  /* Chapters 1 and 2: the trained decoder, run here, over the principal plane of the codes. */
  KINDS["latent-plane"] = function (root, spec) {
    return MLP.load(spec.learned.decoder).then(function (mlp) { return latentPlane(root, spec, mlp); });
  };
  function latentPlane(root, spec, mlp) {
    var d = spec.data, L = spec.learned, svg = figure(root, spec, 620, 300), lim = d.limit, side = d.side;
    var ax = new Axes(svg, {x: 50, y: 30, w: 230, h: 230}, {xlim: [-lim, lim], ylim: [-lim, lim], xticks: [-3, 0, 3], yticks: [-3, 0, 3],
      xlabel: "axis 1 (std)", ylabel: "axis 2 (std)", title: d.title + "s, principal plane", ylabelGap: 28});
    for (var i = 0; i < L.cloud.length; i += 2) el("circle", {cx: ax.sx(L.cloud[i]), cy: ax.sy(L.cloud[i + 1]), r: 1, fill: "#bfbfbf"}, ax.back);
    L.centroids.forEach(function (c) {
      text(ax.back, ax.sx(c[1]), ax.sy(c[2]) + 4, String(c[0]), {size: 13, weight: "bold", fill: TAB10[c[0] % 10]});
    });
    var mark = el("path", {stroke: "#000", "stroke-width": 2, fill: "none"}, ax.g);
    var digit = canvasImage(svg, side, side, 300, 30, 120, 120, "decoded image at the marked point");
    var digitTitle = text(svg, 360, 20, "", {size: 11});
    // the whole plane at once: a grid of decoded codes (Kingma & Welling's manifold figure), drawn after load
    var n = d.grid, cell = side, gx = 440, gy = 30, gsize = 170;
    var grid = canvasImage(svg, n * side, n * side, gx, gy, gsize, gsize, "decoded codes on a grid over the principal plane");
    text(svg, gx + gsize / 2, 20, "decoded grid, \u00b1" + d.grid_limit + " std", {size: 11});
    var gmark = el("rect", {width: gsize / n, height: gsize / n, fill: "none", stroke: "#d62728", "stroke-width": 1.5}, svg);
    function code(a, b) {
      var z = new Array(L.mean.length);
      for (var j = 0; j < z.length; j++) z[j] = L.mean[j] + a * L.axes[0][j] + b * L.axes[1][j];
      return z;
    }
    var ctx = grid.getContext("2d");
    function drawGrid() {
      for (var r = 0; r < n; r++) for (var c = 0; c < n; c++) {
        var a = -d.grid_limit + 2 * d.grid_limit * c / (n - 1), b = d.grid_limit - 2 * d.grid_limit * r / (n - 1);
        greyPixels(ctx, mlp.forward(code(a, b)), side, c * cell, r * cell);
      }
      root.vaeDebug.gridReady = true;
    }
    setTimeout(drawGrid, 0);
    var state = {};
    function update(v) {
      var p = mlp.forward(code(v.a, v.b));
      greyPixels(digit.getContext("2d"), p, side);
      var px = ax.sx(v.a), py = ax.sy(v.b);
      mark.setAttribute("d", "M" + (px - 7) + " " + py + "H" + (px + 7) + "M" + px + " " + (py - 7) + "V" + (py + 7));
      setText(digitTitle, "decoded " + d.title + " (" + fmt(v.a) + ", " + fmt(v.b) + ")");
      var c = (v.a + d.grid_limit) / (2 * d.grid_limit) * (n - 1), r = (d.grid_limit - v.b) / (2 * d.grid_limit) * (n - 1);
      gmark.setAttribute("x", gx + Math.round(c) * gsize / n); gmark.setAttribute("y", gy + Math.round(r) * gsize / n);
      gmark.style.display = (c < -0.5 || c > n - 0.5 || r < -0.5 || r > n - 0.5) ? "none" : "";
      state.pixels = p;
      return state;
    }
    // hover or drag over the plane or the grid: decode the code under the pointer
    function pointer(toAB) {
      return function (ev) {
        if (ev.type === "pointermove" && ev.pointerType !== "mouse" && !ev.buttons) return;
        var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
        var u = pt.matrixTransform(svg.getScreenCTM().inverse()), ab = toAB(u.x, u.y);
        if (!ab) return;
        ev.preventDefault();
        root.vaeDebug.set({a: Math.max(-lim, Math.min(lim, ab[0])), b: Math.max(-lim, Math.min(lim, ab[1]))});
      };
    }
    var onPlane = pointer(function (x, y) {
      return x >= ax.box.x && x <= ax.box.x + ax.box.w && y >= ax.box.y && y <= ax.box.y + ax.box.h ? [ax.ix(x), ax.iy(y)] : null;
    });
    var onGrid = pointer(function (x, y) {
      if (x < gx || x > gx + gsize || y < gy || y > gy + gsize) return null;
      var c = (x - gx) / gsize * n - 0.5, r = (y - gy) / gsize * n - 0.5;
      return [-d.grid_limit + 2 * d.grid_limit * c / (n - 1), d.grid_limit - 2 * d.grid_limit * r / (n - 1)];
    });
    ["pointermove", "pointerdown"].forEach(function (t) { svg.addEventListener(t, function (ev) { onPlane(ev); onGrid(ev); }); });
    svg.style.touchAction = "pinch-zoom";
    root.vaeDebug.decode = function (z) { return Array.from(mlp.forward(z)); };
    root.vaeDebug.code = code;
    return update;
  }

  /* Chapter 7: draw a digit, or load a held-out one; the trained encoder and decoder run here, on the ink
     centred as MNIST was (draw_digit.centre), and the ELBO's terms are computed for it (draw_digit.draw_terms). */
  KINDS["draw-digit"] = function (root, spec) {
    var L = spec.learned;
    return Promise.all([MLP.load(L.encoder), MLP.load(L.decoder), inflate(L.digits)]).then(function (r) {
      return drawDigit(root, spec, r[0], r[1], new Uint8Array(r[2]));
    });
  };
  function softplus(l) { return Math.max(l, 0) + Math.log1p(Math.exp(-Math.abs(l))); }
  /* the brush of draw_digit.stroke_ink: a stamp at (u, v) inks pixel (r, c) to clip(brush + 1 - distance, 0, 1) */
  function stamp(ink, side, brush, u, v) {
    var reach = Math.ceil(brush + 1);
    for (var r = Math.max(0, Math.floor(v) - reach); r <= Math.min(side - 1, Math.floor(v) + reach); r++) {
      for (var c = Math.max(0, Math.floor(u) - reach); c <= Math.min(side - 1, Math.floor(u) + reach); c++) {
        var a = Math.min(1, Math.max(0, brush + 1 - Math.hypot(c + 0.5 - u, r + 0.5 - v)));
        if (a > ink[r * side + c]) ink[r * side + c] = a;
      }
    }
  }
  /* draw_digit.centre: shift by whole pixels so that the centre of mass rounds to (centre, centre) */
  function centred(ink, side, centre) {
    var mass = 0, row = 0, col = 0;
    for (var r = 0; r < side; r++) for (var c = 0; c < side; c++) { var p = ink[r * side + c]; mass += p; row += r * p; col += c * p; }
    if (!(mass > 0)) return Float64Array.from(ink);
    var dr = centre - Math.floor(row / mass + 0.5), dc = centre - Math.floor(col / mass + 0.5), out = new Float64Array(side * side);
    for (var r2 = 0; r2 < side; r2++) for (var c2 = 0; c2 < side; c2++) {
      var rr = r2 - dr, cc = c2 - dc;
      if (rr >= 0 && rr < side && cc >= 0 && cc < side) out[r2 * side + c2] = ink[rr * side + cc];
    }
    return out;
  }
  function drawDigit(root, spec, encoder, decoder, digits) {
    var d = spec.data, L = spec.learned, side = d.side, D = side * side, J = d.latent_dim, k = d.samples, lim = d.limit;
    var svg = figure(root, spec, 620, 345);
    var board = canvasImage(svg, side, side, 10, 34, 168, 168, "drawing canvas, 28 by 28 pixels");
    board.style.touchAction = "none"; board.style.cursor = "crosshair";
    el("rect", {x: 10, y: 34, width: 168, height: 168, fill: "none", stroke: "#333", "stroke-width": 0.8, "pointer-events": "none"}, svg);
    var boardTitle = text(svg, 94, 24, "", {size: 11});
    var input = canvasImage(svg, side, side, 10, 228, 56, 56, "what the encoder reads: the ink, centred");
    text(svg, 74, 252, "encoder input", {size: 10, anchor: "start"});
    text(svg, 74, 266, "(centred)", {size: 10, anchor: "start"});
    var ax = new Axes(svg, {x: 232, y: 34, w: 180, h: 180}, {xlim: [-lim, lim], ylim: [-lim, lim], xticks: [-3, 0, 3], yticks: [-3, 0, 3],
      xlabel: "axis 1 (std)", ylabel: "axis 2 (std)", title: "q(z|x) on the principal plane", ylabelGap: 26});
    for (var i = 0; i < L.cloud.length; i += 2) el("circle", {cx: ax.sx(L.cloud[i]), cy: ax.sy(L.cloud[i + 1]), r: 1, fill: "#bfbfbf"}, ax.back);
    L.centroids.forEach(function (c) {
      text(ax.back, ax.sx(c[1]), ax.sy(c[2]) + 4, String(c[0]), {size: 12, weight: "bold", fill: TAB10[c[0] % 10]});
    });
    var mean = canvasImage(svg, side, side, 440, 34, 84, 84, "decoded mean of q(z|x)");
    text(svg, 482, 24, "decoded mean", {size: 11});
    var tiles = [];
    for (var t = 0; t < 6; t++) tiles.push(canvasImage(svg, side, side, 440 + (t % 3) * 48, 146 + Math.floor(t / 3) * 48, 44, 44, "decoded sample " + (t + 1)));
    text(svg, 510, 138, "decoded samples z = \u03bc + \u03c3\u03b5", {size: 11});
    var lines = [0, 1, 2, 3].map(function (j) { return text(svg, 232, 262 + 19 * j, "", {size: 12, anchor: "start"}); });
    var status = document.createElement("p"); status.className = "vae-explorer-status"; status.setAttribute("aria-live", "polite");
    root.appendChild(status);
    var clear = document.createElement("button"); clear.type = "button"; clear.textContent = "Clear the canvas";
    clear.className = "vae-explorer-button";
    root.querySelector(".vae-explorer-controls").appendChild(clear);
    var eps = seededNormal(k, J, d.seed), ink = new Float64Array(D), shown = null, drawn = false, last = null;
    function digit(i) { for (var p = 0; p < D; p++) ink[p] = digits[i * D + p] / 255; }
    function terms(x) {
      var xin = L.inked.map(function (p) { return x[p]; }), out = encoder.forward(xin);
      var mu = Array.from(out.slice(0, J)), logvar = Array.from(out.slice(J)), recs = [], logw = [], images = [];
      for (var s = 0; s < k; s++) {
        var z = new Array(J), lq = 0, lp = 0;
        for (var j = 0; j < J; j++) {
          var e = eps[s * J + j];
          z[j] = mu[j] + Math.exp(0.5 * logvar[j]) * e;  // eq. reparameterisation
          lq += -0.5 * (Math.log(2 * Math.PI) + logvar[j] + e * e);
          lp += -0.5 * (Math.log(2 * Math.PI) + z[j] * z[j]);
        }
        var logits = decoder.forward(z), ll = 0;
        for (var q = 0; q < D; q++) ll += x[q] * logits[q] - softplus(logits[q]);  // Bernoulli log p(x|z)
        recs.push(ll); logw.push(ll + lp - lq);
        if (s < tiles.length) images.push(logits.map(function (l) { return 1 / (1 + Math.exp(-l)); }));
      }
      var rec = recs.reduce(function (a, b) { return a + b; }, 0) / k, top = Math.max.apply(null, logw);
      var kl = F.klToStandardNormal(mu, logvar);  // eq. kl-closed-form
      var logPx = top + Math.log(logw.reduce(function (a, w) { return a + Math.exp(w - top); }, 0) / k);  // eq. iwae-bound
      var m = decoder.forward(mu).map(function (l) { return 1 / (1 + Math.exp(-l)); }), ab = [0, 0], S = [0, 0, 0];
      for (var jj = 0; jj < J; jj++) {
        var dz = mu[jj] - L.mean[jj], v = Math.exp(logvar[jj]);
        ab[0] += dz * L.proj[0][jj]; ab[1] += dz * L.proj[1][jj];
        S[0] += L.proj[0][jj] * L.proj[0][jj] * v; S[1] += L.proj[0][jj] * L.proj[1][jj] * v; S[2] += L.proj[1][jj] * L.proj[1][jj] * v;
      }
      return {x: Array.from(x), mu: mu, logvar: logvar, rec: rec, kl: kl, elbo: rec - kl, log_px: logPx,
              mean_image: Array.from(m), a: ab[0], b: ab[1], cov: S, images: images};
    }
    function update(values) {
      if (values.digit !== shown) { digit(values.digit); shown = values.digit; drawn = false; }
      greyPixels(board.getContext("2d"), ink, side);
      var x = centred(ink, side, d.centre), st = terms(x);
      greyPixels(input.getContext("2d"), x, side);
      greyPixels(mean.getContext("2d"), st.mean_image, side);
      st.images.forEach(function (im, t) { greyPixels(tiles[t].getContext("2d"), im, side); });
      ax.clear();
      [2, 1].forEach(function (r) { ax.ellipse([st.a, st.b], st.cov, r, {stroke: "#d62728", "stroke-width": r === 1 ? 1.8 : 1, "stroke-dasharray": r === 2 ? "4 3" : undefined}); });
      el("circle", {cx: ax.sx(st.a), cy: ax.sy(st.b), r: 3, fill: "#d62728"}, ax.g);
      var what = drawn ? "your drawing" : "held-out digit " + values.digit + " (a " + d.labels[values.digit] + ")";
      setText(boardTitle, drawn ? "your drawing: draw here" : what + ": draw on it");
      setText(lines[0], "reconstruction  E_{q}[log p(x|z)] \u2248 " + fmt(st.rec) + "  (k = " + k + " samples)");
      setText(lines[1], "KL(q(z|x) \u2016 p(z)) = " + fmt(st.kl) + "  (closed form, Eq. (" + d.kl_equation + "))");
      setText(lines[2], "ELBO = reconstruction \u2212 KL = " + fmt(st.elbo) + " nats");
      setText(lines[3], "log p(x) \u2265 L_{" + k + "} = " + fmt(st.log_px) + "  (importance-sampled, same samples)");
      st.what = what;
      if (!last || !last.pointer) say(st);
      return st;
    }
    function say(st) {
      status.textContent = "Input: " + st.what + ". Code mean at (" + fmt(st.a) + ", " + fmt(st.b) + ") standard deviations on the plane. " +
        "Reconstruction term " + fmt(st.rec) + ", KL " + fmt(st.kl) + ", ELBO " + fmt(st.elbo) + ", importance-sampled log p(x) " + fmt(st.log_px) + " nats.";
    }
    function at(ev) {
      var r = board.getBoundingClientRect();
      return [(ev.clientX - r.left) / r.width * side, (ev.clientY - r.top) / r.height * side];
    }
    /* one stroke's positions, as draw_digit.stroke_ink joins them */
    function to(p) {
      if (last && last.p) {
        var a = last.p, n = Math.max(1, Math.ceil(Math.hypot(p[0] - a[0], p[1] - a[1]) / d.step));
        for (var i = 1; i <= n; i++) stamp(ink, side, d.brush, a[0] + (p[0] - a[0]) * (i / n), a[1] + (p[1] - a[1]) * (i / n));
      } else stamp(ink, side, d.brush, p[0], p[1]);
      last.p = p; drawn = true;
    }
    board.addEventListener("pointerdown", function (ev) {
      ev.preventDefault(); board.setPointerCapture(ev.pointerId);
      last = {pointer: true, p: null}; to(at(ev)); root.vaeDebug.set({});
    });
    board.addEventListener("pointermove", function (ev) {
      if (!last || !last.pointer) return;
      ev.preventDefault(); to(at(ev)); root.vaeDebug.set({});
    });
    function end() { if (last && last.pointer) { last = null; say(root.vaeDebug.state); } }
    board.addEventListener("pointerup", end); board.addEventListener("pointercancel", end);
    clear.addEventListener("click", function () { ink.fill(0); drawn = true; root.vaeDebug.set({}); });
    /* the browser test's hook: paint strokes (lists of [column, row] in pixels) as the pointer would */
    root.vaeDebug.draw = function (strokes, fresh) {
      if (fresh) ink.fill(0);
      strokes.forEach(function (s) { last = {p: null}; s.forEach(to); });
      last = null;
      return root.vaeDebug.set({});
    };
    root.vaeDebug.eps = eps;
    return update;
  }

  /* Chapter 8: models trained with a weight beta on the KL, on the rate-distortion plane, with their images. */
  KINDS["beta-sweep"] = function (root, spec) {
    return inflate(spec.data.images).then(function (buffer) { return betaSweep(root, spec, new Uint8Array(buffer)); });
  };
  function betaSweep(root, spec, images) {
    var d = spec.data, svg = figure(root, spec, 640, 330), side = d.side, k = d.n_images, per = k * side * side;
    var rmax = Math.max.apply(null, d.rate) * 1.08, dmin = Math.min.apply(null, d.distortion), dmax = Math.max.apply(null, d.distortion);
    var pad = 0.08 * (dmax - dmin), ylo = dmin - pad, yhi = dmax + pad;
    var ax = new Axes(svg, {x: 70, y: 34, w: 230, h: 240}, {xlim: [0, rmax], ylim: [ylo, yhi], xticks: niceTicks(0, rmax),
      yticks: niceTicks(ylo, yhi), xlabel: "rate R (nats)", ylabel: "distortion D (nats)", ylabelGap: 52});
    var xs = d.rate, ys = d.distortion;
    ax.path(xs, ys, {stroke: "#1f77b4", "stroke-width": 1}, ax.back);
    var dots = d.beta.map(function (b, i) { return el("circle", {cx: ax.sx(xs[i]), cy: ax.sy(ys[i]), r: 3, fill: "#1f77b4"}, ax.back); });
    (d.marks || []).forEach(function (mk) {
      text(ax.back, ax.sx(xs[mk.index]) + 7, ax.sy(ys[mk.index]) - 7, mk.label, {size: 9, anchor: "start"});
    });
    var iso = el("path", {stroke: "#555", "stroke-dasharray": "4 3", fill: "none"}, ax.g);
    var ring = el("circle", {r: 6, fill: "none", stroke: "#d62728", "stroke-width": 2}, ax.g);
    legend(ax.front, 160, 52, [{color: "#555", dash: "4 3", label: "R + D = \u2212ELBO"}]);
    var x0 = 340, size = 36, cols = k / 2, rows = [["held-out digits", 34], ["their reconstructions", 140], ["samples z ~ p(z)", 246]];
    var canvases = rows.map(function (r) {
      text(svg, x0, r[1] + 6, r[0], {size: 10, anchor: "start"});
      return canvasImage(svg, side * cols, side * 2, x0, r[1] + 12, size * cols, size * 2, r[0]);
    });
    function draw(canvas, offset) {  // k images in two rows of k/2, grey levels 0-255 (255: ink)
      var ctx = canvas.getContext("2d"), n = side * side;
      for (var i = 0; i < k; i++) {
        var probs = new Float64Array(n);
        for (var j = 0; j < n; j++) probs[j] = images[offset + i * n + j] / 255;
        greyPixels(ctx, probs, side, (i % cols) * side, Math.floor(i / cols) * side);
      }
    }
    draw(canvases[0], 0);
    return function (v) {
      var lb = Math.log(v.beta), best = 0;
      d.beta.forEach(function (b, i) { if (Math.abs(Math.log(b) - lb) < Math.abs(Math.log(d.beta[best]) - lb)) best = i; });
      var r = xs[best], dist = ys[best], c = r + dist;
      ring.setAttribute("cx", ax.sx(r)); ring.setAttribute("cy", ax.sy(dist));
      dots.forEach(function (dot, i) { dot.setAttribute("fill", i === best ? "#d62728" : "#1f77b4"); });
      // every point of the line R + D = c has the same ELBO, -c
      iso.setAttribute("d", "M" + ax.sx(Math.max(0, c - yhi)) + " " + ax.sy(Math.min(yhi, c)) + "L" + ax.sx(Math.min(rmax, c - ylo)) + " " + ax.sy(Math.max(ylo, c - rmax)));
      draw(canvases[1], per * (1 + 2 * best)); draw(canvases[2], per * (2 + 2 * best));
      setText(ax.title, "\u03b2 = " + fmtValue(d.beta[best]) + ": R = " + r.toFixed(1) + ", D = " + dist.toFixed(1));
      return {index: best, beta: d.beta[best], rate: r, distortion: dist};
    };
  }

  function niceTicks(lo, hi) {
    var span = hi - lo, step = Math.pow(10, Math.floor(Math.log10(span / 3)));
    [1, 2, 5, 10].some(function (f) { if (span / (f * step) <= 5) { step = f * step; return true; } return false; });
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) out.push(+t.toPrecision(10));
    return out;
  }

  // --- Sliders and mounting ------------------------------------------------------------------------------

  var SLIDER_STEPS = 1000;  // positions per slider: continuous to the eye and to the hand

  function mount(root) {
    if (root.dataset.ready) return;
    var spec = JSON.parse(root.querySelector("script.vae-explorer-spec").textContent);
    var learned = root.querySelector("script.vae-explorer-learned");
    if (learned) spec.learned = JSON.parse(learned.textContent);
    var make = KINDS[spec.kind];
    /* The one object through which the page's own code (the pointer on a map) and the browser test reach a
       mounted explorer: set(values) redraws at exact slider values; state, values and ms are what the last
       redraw computed, from what, in how long; renders counts redraws; loaded resolves once it is drawn
       (ready), or error says why not. A kind adds what it alone has (eps, code, decode, gridReady). */
    var debug = root.vaeDebug = {ready: false, error: null, renders: 0, state: null, values: null, ms: null,
                                 set: null, loaded: null};
    if (!make) { debug.error = "unknown explorer kind " + spec.kind; root.querySelector(".vae-explorer-figure").textContent = debug.error; return; }
    root.dataset.ready = "1";
    var values = {}, inputs = {};
    var controls = root.querySelector(".vae-explorer-controls");
    spec.sliders.forEach(function (s) {
      var to = s.log ? function (x) { return Math.log10(x); } : function (x) { return x; };
      var from = s.log ? function (u) { return Math.pow(10, u); } : function (u) { return u; };
      var lo = to(s.min), hi = to(s.max);
      var row = document.createElement("div"); row.className = "vae-slider";
      var id = root.id + "-" + s.key;
      var label = document.createElement("label"); label.htmlFor = id; label.textContent = s.label;
      var input = document.createElement("input");
      input.type = "range"; input.id = id; input.dataset.key = s.key;
      input.min = lo; input.max = hi; input.step = (hi - lo) / SLIDER_STEPS; input.value = to(s.value);
      // stops evenly spaced from end to end (the held-out digits): one arrow key press moves one stop
      var st = (s.stops || []).map(to), gap = st.length > 1 ? (st[st.length - 1] - st[0]) / (st.length - 1) : 0;
      if (gap > 0 && Math.abs(st[0] - lo) < 1e-9 && Math.abs(st[st.length - 1] - hi) < 1e-9 &&
          st.every(function (t, i) { return Math.abs(t - (lo + i * gap)) < 1e-9 * (1 + Math.abs(t)); })) input.step = gap;
      var list = document.createElement("datalist"); list.id = id + "-ticks";
      var ticks = document.createElement("div"); ticks.className = "vae-slider-ticks"; ticks.setAttribute("aria-hidden", "true");
      s.ticks.forEach(function (t, i) {
        var o = document.createElement("option"); o.value = to(t); list.appendChild(o);
        var span = document.createElement("span"); span.textContent = s.tick_labels ? s.tick_labels[i] : fmtTick(t, false);
        // under the thumb's centre: the thumb (16 px in Chromium and Firefox) stops half its width from each end
        span.style.left = "calc(8px + (100% - 16px) * " + ((to(t) - lo) / (hi - lo)).toFixed(5) + ")"; ticks.appendChild(span);
      });
      input.setAttribute("list", list.id);
      var out = document.createElement("output"); out.htmlFor = id;
      var track = document.createElement("div"); track.className = "vae-slider-track";
      track.appendChild(input); track.appendChild(ticks);
      row.appendChild(label); row.appendChild(track); row.appendChild(out); row.appendChild(list);
      controls.appendChild(row);
      inputs[s.key] = {input: input, out: out, spec: s, to: to, from: from};
      values[s.key] = s.value;
    });
    /* a slider with stops (the models a sweep trained) takes only those values, the nearest in its own scale,
       so its label always names what is drawn */
    function snap(I, x) {
      var stops = I.spec.stops || [];
      if (!stops.length) return x;
      var best = stops[0];
      stops.forEach(function (t) { if (Math.abs(I.to(t) - I.to(x)) < Math.abs(I.to(best) - I.to(x))) best = t; });
      return best;
    }
    function read(key) {
      var I = inputs[key], x = snap(I, I.from(parseFloat(I.input.value)));
      if (I.spec.stops && I.spec.stops.length) I.input.value = I.to(x);
      return x;
    }
    var update;
    function show(key) {
      var I = inputs[key], text = fmtValue(values[key], I.spec.digits !== undefined ? I.spec.digits : I.spec.log ? undefined : 2);
      I.out.textContent = text;
      I.input.setAttribute("aria-valuetext", I.spec.label + " = " + text);
    }
    function render() {
      if (!update) return;
      var t0 = performance.now();
      debug.state = update(values);
      debug.values = Object.assign({}, values);
      debug.ms = performance.now() - t0;
      debug.renders += 1;
    }
    Object.keys(inputs).forEach(function (key) {
      var I = inputs[key];
      I.input.addEventListener("input", function () {
        if (!update) return;  // still loading (a decoder inflating): the first render reads the slider
        values[key] = read(key);
        show(key); render();
      });
      show(key);
    });
    /* set some sliders to exact values (the pointer on a map, and the browser test) and redraw */
    debug.set = function (v) {
      Object.keys(v).forEach(function (key) {
        var I = inputs[key];
        values[key] = snap(I, v[key]); I.input.value = I.to(values[key]); show(key);
      });
      render();
      return debug.state;
    };
    // a kind returns its update function, or a Promise of it when it must load something first
    debug.loaded = Promise.resolve(make(root, spec)).then(function (u) {
      update = u;
      Object.keys(inputs).forEach(function (key) { values[key] = read(key); show(key); });
      render();
      debug.ready = true;
    }).catch(function (e) { debug.error = String(e); throw e; });
  }

  function mountAll() {
    var found = document.querySelectorAll("div.vae-explorer");
    for (var i = 0; i < found.length; i++) {
      try { mount(found[i]); } catch (e) { found[i].vaeDebug = Object.assign(found[i].vaeDebug || {}, {error: String(e)}); throw e; }
    }
    return Promise.all(Array.prototype.map.call(found, function (root) { return root.vaeDebug && root.vaeDebug.loaded; }));
  }

  window.VAEExplorers = {mountAll: mountAll, formulas: F, seededNormal: seededNormal, MLP: MLP, kinds: KINDS, version: 2};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
