// The live view: phase events of the running deploy, pushed by server-sent events.
// No framework; it only adds rows and sets cells the server rendered the same way.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) return;
  var env = root.dataset.env;
  var deployment = root.dataset.deployment || null;
  var table = document.getElementById("phases");
  var state = document.getElementById("live-state");
  var events = document.getElementById("events");
  var failures = document.getElementById("failures");

  function clock(at) {
    return new Date(at * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function reset(id) {
    deployment = id;
    root.dataset.deployment = id;
    table.tHead.rows[0].querySelectorAll("th[data-phase]").forEach(function (th) { th.remove(); });
    table.tBodies[0].innerHTML = "";
    events.innerHTML = "";
    failures.innerHTML = "";
  }
  function column(phase) {
    var head = table.tHead.rows[0];
    var found = head.querySelector('th[data-phase="' + CSS.escape(phase) + '"]');
    if (found) return;
    var th = el("th", phase);
    th.dataset.phase = phase;
    head.appendChild(th);
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var td = el("td", "", "phase");
      td.dataset.phase = phase;
      row.appendChild(td);
    });
  }
  function row(host) {
    var found = table.tBodies[0].querySelector('tr[data-host="' + CSS.escape(host) + '"]');
    if (found) return found;
    var tr = el("tr");
    tr.dataset.host = host;
    tr.appendChild(el("th", host));
    table.tHead.rows[0].querySelectorAll("th[data-phase]").forEach(function (th) {
      var td = el("td", "", "phase");
      td.dataset.phase = th.dataset.phase;
      tr.appendChild(td);
    });
    table.tBodies[0].appendChild(tr);
    return tr;
  }
  function show(ev) {
    if (ev.kind === "lock-acquired" && ev.deployment_id && ev.deployment_id !== deployment) {
      reset(ev.deployment_id);
    }
    if (ev.deployment_id && ev.deployment_id !== deployment) {
      if (ev.kind !== "phase") return;
      reset(ev.deployment_id);
    }
    var line = clock(ev.at) + " · " + ev.kind;
    if (ev.host) line += " · " + ev.host + " · " + ev.phase + " " + ev.status;
    events.appendChild(el("li", line));
    if (ev.kind === "phase" && ev.host && ev.phase) {
      column(ev.phase);
      var cell = row(ev.host).querySelector('td[data-phase="' + CSS.escape(ev.phase) + '"]');
      cell.className = "phase " + ev.status;
      cell.textContent = ev.status;
      state.className = "running";
      state.textContent = "deploying " + deployment + " now";
      if (ev.status === "failed") {
        var box = el("div", undefined, "failure");
        box.appendChild(el("strong", ev.host + ": " + ev.phase + " failed"));
        box.appendChild(el("pre", String(ev.detail || "")));
        var probes = ev.probes || [];
        if (probes.length) {
          box.appendChild(el("p", "last probes:"));
          var list = el("ul", undefined, "probes");
          probes.forEach(function (probe) {
            var item = el("li");
            item.appendChild(el("code", probe.line));
            list.appendChild(item);
          });
          box.appendChild(list);
        }
        var lines = ev.log_tail || [];
        if (lines.length) {
          box.appendChild(el("p", "last " + lines.length + " log lines:"));
          box.appendChild(el("pre", lines.join("\n"), "log-tail"));
        }
        failures.appendChild(box);
      }
    }
    if (ev.kind === "lock-released" && ev.deployment_id === deployment) {
      state.className = "idle";
      state.textContent = "deployment " + deployment + " finished: reload for its outcome";
    }
  }
  var source = new EventSource("/api/environments/" + encodeURIComponent(env) +
    "/live/stream?after=" + encodeURIComponent(root.dataset.after || "0"));
  source.addEventListener("deploy", function (message) { show(JSON.parse(message.data)); });
})();
