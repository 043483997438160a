// The desk's only script: load a text file into a statement, and add
// exhibits by drag and drop or by choosing them, one upload per file with
// its own progress. No inline script; served from the desk itself.
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf"]');
  var token = csrf ? csrf.getAttribute("content") : "";

  document.querySelectorAll("input[type=file][data-fills]").forEach(function (input) {
    input.addEventListener("change", function () {
      var target = document.getElementById(input.getAttribute("data-fills"));
      var file = input.files && input.files[0];
      if (!target || !file) return;
      var reader = new FileReader();
      reader.onload = function () { target.value = reader.result; };
      reader.readAsText(file, "utf-8");
    });
  });

  // Long work (check, export, verify, import): say it is under way and
  // keep the button from being pressed twice.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var bar = document.createElement("progress");
      bar.setAttribute("aria-label", form.getAttribute("data-busy"));
      var note = document.createElement("span");
      note.setAttribute("role", "status");
      note.textContent = " " + form.getAttribute("data-busy");
      form.appendChild(bar);
      form.appendChild(note);
      setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
      // The evidence bytes re-hashed so far, until the answer replaces
      // this page.
      var poll = function () {
        fetch("/progress", { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (p) {
            if (p.total > 0) { bar.max = p.total; bar.value = p.done; }
            setTimeout(poll, 400);
          })
          .catch(function () {});
      };
      setTimeout(poll, 400);
    });
  });

  var zone = document.getElementById("dropzone");
  if (!zone) return;
  var input = document.getElementById("files");
  var list = document.getElementById("uploads");
  var caseId = zone.getAttribute("data-case");
  var queue = [];
  var busy = false;

  function next() {
    if (busy) return;
    var item = queue.shift();
    if (!item) { zone.setAttribute("data-done", "1"); return; }
    busy = true;
    zone.removeAttribute("data-done");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/case/" + caseId + "/exhibits");
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(item.name));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { item.bar.max = e.total; item.bar.value = e.loaded; }
    };
    xhr.onload = function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status === 200) {
        item.bar.value = item.bar.max;
        item.state.textContent = "✓ " + (answer.sha256 || "").slice(0, 16);
        item.row.setAttribute("data-id", answer.id || "");
        item.row.className = "ok";
      } else {
        item.state.textContent = answer.error || ("HTTP " + xhr.status);
        item.row.className = "problem";
      }
      busy = false;
      next();
    };
    xhr.onerror = function () {
      item.state.textContent = "✗";
      item.row.className = "problem";
      busy = false;
      next();
    };
    xhr.send(item.file);
  }

  // `path`: for the one file of a dropped folder, its path from that
  // folder ("photos/2026-03-14/IMG_0042.jpg"), kept as its name as
  // `custodia evidence add FOLDER` keeps it.
  function add(files, path) {
    for (var i = 0; i < files.length; i++) {
      var shown = path || files[i].name;
      var row = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = shown;
      name.setAttribute("dir", "auto");
      var bar = document.createElement("progress");
      bar.max = files[i].size || 1;
      bar.value = 0;
      bar.setAttribute("aria-label", shown);
      var state = document.createElement("span");
      row.appendChild(name); row.appendChild(bar); row.appendChild(state);
      list.appendChild(row);
      queue.push({ file: files[i], name: shown, bar: bar, state: state, row: row });
    }
    next();
  }

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  // A dropped folder: every file in it, at any depth, each named by its
  // path from the dropped folder (the entry's full path without its "/").
  function walk(entry) {
    if (entry.isFile) {
      entry.file(function (f) { add([f], entry.fullPath.replace(/^\/+/, "")); });
    } else if (entry.isDirectory) {
      var reader = entry.createReader();
      var more = function () {
        reader.readEntries(function (entries) {
          if (!entries.length) return;
          entries.forEach(walk);
          more();
        });
      };
      more();
    }
  }

  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    var dt = e.dataTransfer;
    if (!dt) return;
    var items = dt.items ? Array.prototype.slice.call(dt.items) : [];
    var entries = items.map(function (i) {
      return i.webkitGetAsEntry ? i.webkitGetAsEntry() : null;
    });
    if (entries.length && entries.some(function (en) { return en && en.isDirectory; })) {
      entries.forEach(function (en) { if (en) walk(en); });
    } else if (dt.files) {
      add(dt.files);
    }
  });
  zone.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
})();
