/* siting map helpers (MIT, part of the siting project): offline base layer drawn from the
 * embedded data, China basemaps with the GCJ-02 overlay shift, site clusters, automatic switch to
 * the offline base when online tiles cannot load, popups kept clear of the legend.
 * Needs Leaflet 1.9 and Leaflet.markercluster 1.5. Exposes window.siting. */
(function () {
  "use strict";
  var S = (window.siting = window.siting || {});

  // ------------------------------------------------------------------ GCJ-02
  // The published GCJ-02 obfuscation (Krasovsky 1940 ellipsoid constants), the same formulas as
  // siting.candidates.wgs84_to_gcj02 in Python; valid inside mainland China.
  var GCJ_A = 6378245.0;
  var GCJ_EE = 0.00669342162296594323;
  S.wgs2gcj = function (lat, lon) {
    var x = lon - 105.0, y = lat - 35.0, pi = Math.PI;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dlat += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    dlat += (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * pi) + 320.0 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dlon += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
    dlon += (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0;
    dlon += (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
    var rad = lat / 180.0 * pi;
    var s = 1.0 - GCJ_EE * Math.sin(rad) * Math.sin(rad);
    dlat = dlat * 180.0 / ((GCJ_A * (1.0 - GCJ_EE)) / (s * Math.sqrt(s)) * pi);
    dlon = dlon * 180.0 / (GCJ_A / Math.sqrt(s) * Math.cos(rad) * pi);
    return [lat + dlat, lon + dlon];
  };

  // ------------------------------------------------------------------ polylines
  // Google's encoded polyline algorithm, 5 decimals (siting.basemap.encode_polyline).
  S.decode = function (str) {
    var out = [], i = 0, lat = 0, lon = 0, n = str.length;
    while (i < n) {
      var b, shift = 0, result = 0;
      do { b = str.charCodeAt(i++) - 63; result |= (b & 0x1f) << shift; shift += 5; } while (b >= 0x20);
      lat += result & 1 ? ~(result >> 1) : result >> 1;
      shift = 0; result = 0;
      do { b = str.charCodeAt(i++) - 63; result |= (b & 0x1f) << shift; shift += 5; } while (b >= 0x20);
      lon += result & 1 ? ~(result >> 1) : result >> 1;
      out.push([lat / 1e5, lon / 1e5]);
    }
    return out;
  };

  // ------------------------------------------------------------------ popups and the legend
  // Popups pan clear of the title (top) and of the layer control and legend (right); if a popup
  // still overlaps the legend (small window), the legend folds to its header while it is open.
  function boxOf(sel) {
    var el = document.querySelector(sel);
    // (offsetParent is null for position:fixed boxes: ask for client rects instead)
    return el && el.getClientRects().length ? el.getBoundingClientRect() : null;
  }
  S.popupPadding = function (map) {
    var mb = map.getContainer().getBoundingClientRect();
    var top = 10, right = 10;
    var title = boxOf(".siting-title");
    if (title) top = Math.max(top, title.bottom - mb.top + 10);
    [".siting-legend", ".leaflet-control-layers"].forEach(function (sel) {
      var r = boxOf(sel);
      if (r) right = Math.max(right, mb.right - r.left + 10);
    });
    if (right > mb.width * 0.55) right = 10; // narrow window: fold the legend instead
    return [L.point(10, top), L.point(right, 10)];
  };
  var adjustPan = L.Popup.prototype._adjustPan;
  L.Popup.prototype._adjustPan = function () {
    if (this._map) {
      var pad = S.popupPadding(this._map);
      this.options.autoPanPaddingTopLeft = pad[0];
      this.options.autoPanPaddingBottomRight = pad[1];
    }
    return adjustPan.apply(this, arguments);
  };
  function overlaps(a, b) {
    return a && b && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  function watchLegend(map) {
    map.on("popupopen", function (e) {
      // after the pan animation, check the popup against the legend
      setTimeout(function () {
        var legend = document.querySelector(".siting-legend");
        var el = e.popup.getElement();
        if (legend && el && overlaps(el.getBoundingClientRect(), legend.getBoundingClientRect())) {
          legend.classList.add("siting-folded");
        }
      }, 300);
    });
    map.on("popupclose", function () {
      var legend = document.querySelector(".siting-legend");
      if (legend && legend.dataset.userFolded !== "1") legend.classList.remove("siting-folded");
    });
    var head = document.querySelector(".siting-legend .siting-legend-head");
    if (head) {
      head.addEventListener("click", function () {
        var legend = document.querySelector(".siting-legend");
        legend.classList.toggle("siting-folded");
        legend.dataset.userFolded = legend.classList.contains("siting-folded") ? "1" : "0";
      });
    }
  }

  // The title keeps left of the layer control, the legend below it (scrolling if need be).
  function fitBoxes(map) {
    var control = document.querySelector(".leaflet-control-layers");
    var title = document.querySelector(".siting-title");
    var legend = document.querySelector(".siting-legend");
    if (!control) return;
    var c = control.getBoundingClientRect();
    if (title) title.style.maxWidth = Math.max(160, c.left - title.getBoundingClientRect().left - 16) + "px";
    if (legend) legend.style.maxHeight = Math.max(60, window.innerHeight - c.bottom - 44) + "px";
  }

  // ------------------------------------------------------------------ sites (clustered)
  function clusterIcon(kind, colour) {
    return function (cluster) {
      var n = cluster.getChildCount();
      var s = Math.round(Math.min(44, 24 + 5 * Math.sqrt(n)));
      // a white badge ringed in the kind's colour, so a group never looks like one site
      var shape = kind === "hydrogen"
        ? '<polygon points="' + s / 2 + ',2 ' + (s - 2) + ',' + s / 2 + ' ' + s / 2 + ',' + (s - 2) +
          ' 2,' + s / 2 + '" fill="#fff" stroke="' + colour + '" stroke-width="4"/>'
        : '<circle cx="' + s / 2 + '" cy="' + s / 2 + '" r="' + (s / 2 - 2.5) + '" fill="#fff" ' +
          'stroke="' + colour + '" stroke-width="4"/>';
      var fill = kind === "hydrogen" ? "#8a5a00" : colour;
      var html = '<svg xmlns="http://www.w3.org/2000/svg" width="' + s + '" height="' + s + '">' +
        shape + '<text x="50%" y="50%" dy="0.35em" text-anchor="middle" font-family="Arial,' +
        'Helvetica,sans-serif" font-weight="bold" font-size="' + Math.round(s * 0.4) + '" fill="' +
        fill + '">' + n + "</text></svg>";
      return L.divIcon({html: html, className: "siting-icon siting-cluster siting-cluster-" + kind,
                        iconSize: [s, s]});
    };
  }
  // A clustered layer of site markers. spec: {kind, colour, radius, sites: [{lat, lon, html,
  // size: [w, h], anchor: [x, y], popup, tip, z}]}
  S.sitesLayer = function (spec) {
    var group = L.markerClusterGroup({
      maxClusterRadius: spec.radius || 45,
      disableClusteringAtZoom: 15,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      zoomToBoundsOnClick: true,
      iconCreateFunction: clusterIcon(spec.kind, spec.colour),
    });
    group.sitingKind = spec.kind;
    var markers = spec.sites.map(function (f) {
      var m = L.marker([f.lat, f.lon], {
        icon: L.divIcon({html: f.html, className: "siting-icon siting-site-" + spec.kind,
                         iconSize: f.size, iconAnchor: f.anchor}),
        zIndexOffset: f.z || 0,
        riseOnHover: true,
        title: "",
      });
      m.bindPopup(f.popup, {maxWidth: 380, className: "siting-popup"});
      m.bindTooltip(f.tip, {direction: "top", offset: [0, -f.anchor[1]]});
      m.sitingSite = f;
      return m;
    });
    group.addLayers(markers);
    return group;
  };

  // ------------------------------------------------------------------ offline base layer
  var TRANSPARENT = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
  var EmbeddedTiles = L.TileLayer.extend({
    initialize: function (tiles, options) {
      this._tiles64 = tiles;
      L.TileLayer.prototype.initialize.call(this, "", options);
    },
    getTileUrl: function (c) {
      return this._tiles64[c.z + "/" + c.x + "/" + c.y] || TRANSPARENT;
    },
  });

  function roadIndex(lines) {
    // grid of segment indices over lat/lon cells of 0.01 degree, for the hover lookup
    var grid = {};
    lines.forEach(function (ln, i) {
      var p = ln.pts;
      for (var k = 1; k < p.length; k++) {
        var a = p[k - 1], b = p[k];
        var i0 = Math.floor(Math.min(a[0], b[0]) * 100), i1 = Math.floor(Math.max(a[0], b[0]) * 100);
        var j0 = Math.floor(Math.min(a[1], b[1]) * 100), j1 = Math.floor(Math.max(a[1], b[1]) * 100);
        for (var ii = i0; ii <= i1; ii++) {
          for (var jj = j0; jj <= j1; jj++) {
            var key = ii + ":" + jj;
            (grid[key] = grid[key] || []).push(i, k);
          }
        }
      }
    });
    return grid;
  }
  function segDist2(p, a, b) {
    var dx = b.x - a.x, dy = b.y - a.y, l2 = dx * dx + dy * dy;
    var t = l2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / l2)) : 0;
    var x = a.x + t * dx - p.x, y = a.y + t * dy - p.y;
    return x * x + y * y;
  }

  // The offline base: embedded raster tiles (zoom 0-6, shown up to zoom 10), roads by class
  // (zoom-dependent), district/county outlines and names, the corridor skeleton, towns and
  // venues. One Leaflet layer, so it is one radio button of the layer control.
  S.OfflineBase = L.Layer.extend({
    initialize: function (data) {
      this._data = data;
      this._built = false;
    },
    _build: function (map) {
      var d = this._data;
      ["sitingBaseVec", "sitingBaseLabels"].forEach(function (name, i) {
        if (!map.getPane(name)) {
          var pane = map.createPane(name);
          pane.style.zIndex = i === 0 ? 250 : 450;
          pane.style.pointerEvents = "none";
        }
      });
      this._renderer = L.canvas({pane: "sitingBaseVec", padding: 0.2});
      this._tiles = new EmbeddedTiles(d.tiles || {}, {
        minZoom: 0, maxZoom: 7, maxNativeZoom: 6, opacity: 0.6,
        attribution: d.attribution, errorTileUrl: TRANSPARENT,
      });
      var rd = d.roads || {classes: [], names: [""], lines: []};
      var self = this;
      this._classes = rd.classes.map(function (c) {
        return {name: c[0], minZoom: c[1], colour: c[2], width: c[3], words: c[4],
                group: L.layerGroup()};
      });
      this._roads = [];
      rd.lines.forEach(function (ln) {
        var cls = self._classes[ln[0]], name = rd.names[ln[1]];
        ln[2].split(" ").forEach(function (enc) {
          var pts = S.decode(enc);
          var pl = L.polyline(pts, {renderer: self._renderer, color: cls.colour, weight: cls.width,
                                    opacity: 0.9, interactive: false, smoothFactor: 1});
          cls.group.addLayer(pl);
          self._roads.push({pts: pts, cls: cls, name: name});
        });
      });
      this._areas = L.layerGroup();
      this._labels = [];
      (d.areas || []).forEach(function (a) {
        a[3].forEach(function (enc) {
          self._areas.addLayer(L.polygon(S.decode(enc), {
            renderer: self._renderer, color: "#7a6a8a", weight: 1.2, dashArray: "6 4",
            fill: false, interactive: false}));
        });
        self._labels.push({text: a[0], latlng: [a[1], a[2]], cls: "area", prio: 1});
      });
      var corr = d.corridor || {links: [], places: []};
      this._corridor = L.layerGroup();
      corr.links.forEach(function (ln) {
        var pts = S.decode(ln[1]);
        self._corridor.addLayer(L.polyline(pts, {renderer: self._renderer, color: "#c4553f",
          weight: 3, opacity: 0.8, dashArray: "1 0", interactive: false}));
        self._roads.push({pts: pts, cls: {minZoom: 0, words: "expressway skeleton link (straight)"},
                          name: ln[0]});
      });
      corr.places.forEach(function (p) {
        self._corridor.addLayer(L.circleMarker([p[1], p[2]], {renderer: self._renderer, radius: 3,
          color: "#333", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false}));
        self._labels.push({text: p[0], latlng: [p[1], p[2]], cls: p[3], prio: p[3] === "town" ? 2 : 3});
      });
      this._labelLayer = L.layerGroup();
      this._labels.forEach(function (lb) {
        lb.marker = L.marker(lb.latlng, {
          pane: "sitingBaseLabels", interactive: false, keyboard: false,
          icon: L.divIcon({className: "siting-base-label siting-base-label-" + lb.cls,
                           html: "<span>" + lb.text + "</span>", iconSize: null}),
        });
      });
      this._grid = roadIndex(this._roads);
      this._built = true;
    },
    onAdd: function (map) {
      if (!this._built) this._build(map);
      map.getContainer().classList.add("siting-offline");
      document.body.classList.add("siting-offline-on");
      map.addLayer(this._tiles);
      map.addLayer(this._areas);
      map.addLayer(this._corridor);
      map.addLayer(this._labelLayer);
      map.on("zoomend", this._update, this);
      map.on("moveend", this._placeLabels, this);
      map.on("mousemove", this._hover, this);
      map.on("mouseout", this._hideHover, this);
      this._update();
    },
    onRemove: function (map) {
      map.getContainer().classList.remove("siting-offline");
      document.body.classList.remove("siting-offline-on");
      [this._tiles, this._areas, this._corridor, this._labelLayer].forEach(function (l) {
        map.removeLayer(l);
      });
      this._classes.forEach(function (c) { map.removeLayer(c.group); });
      map.off("zoomend", this._update, this);
      map.off("moveend", this._placeLabels, this);
      map.off("mousemove", this._hover, this);
      map.off("mouseout", this._hideHover, this);
      this._hideHover();
    },
    _update: function () {
      var map = this._map, z = map.getZoom();
      this._classes.forEach(function (c) {
        if (z >= c.minZoom) map.addLayer(c.group); else map.removeLayer(c.group);
      });
      this._placeLabels();
    },
    // greedy label placement: districts, then towns, then venues; a label overlapping one
    // already placed is hidden at this zoom
    _placeLabels: function () {
      var map = this._map, placed = [], group = this._labelLayer;
      var size = map.getSize();
      var order = this._labels.slice().sort(function (a, b) { return a.prio - b.prio; });
      order.forEach(function (lb) {
        var p = map.latLngToContainerPoint(lb.latlng);
        var wide = (lb.text.match(/[\u2e80-\uffff]/g) || []).length;
        var w = 7 * (lb.text.length - wide) + 13 * wide + 8, h = 16;
        var box = {left: p.x - w / 2, right: p.x + w / 2, top: p.y - h / 2, bottom: p.y + h / 2};
        var visible = p.x > -w && p.y > -h && p.x < size.x + w && p.y < size.y + h;
        var clash = placed.some(function (q) { return overlaps(box, q); });
        if (visible && !clash) {
          placed.push(box);
          group.addLayer(lb.marker);
        } else {
          group.removeLayer(lb.marker);
        }
      });
    },
    _hover: function (e) {
      var map = this._map, z = map.getZoom();
      var t = e.originalEvent && e.originalEvent.target;
      if (t && t.closest && t.closest(".leaflet-marker-icon, .leaflet-popup, .leaflet-control")) {
        return this._hideHover();
      }
      var ll = e.latlng, best = null, bestD = 36; // within 6 px
      var p = map.latLngToLayerPoint(ll), roads = this._roads;
      var i0 = Math.floor(ll.lat * 100), j0 = Math.floor(ll.lng * 100);
      for (var ii = i0 - 1; ii <= i0 + 1; ii++) {
        for (var jj = j0 - 1; jj <= j0 + 1; jj++) {
          var cell = this._grid[ii + ":" + jj];
          if (!cell) continue;
          for (var k = 0; k < cell.length; k += 2) {
            var r = roads[cell[k]];
            if (z < r.cls.minZoom) continue;
            var a = map.latLngToLayerPoint(r.pts[cell[k + 1] - 1]);
            var b = map.latLngToLayerPoint(r.pts[cell[k + 1]]);
            var dd = segDist2(p, a, b);
            if (dd < bestD) { bestD = dd; best = r; }
          }
        }
      }
      var box = document.getElementById("siting-road-name");
      if (!box) return;
      if (best) {
        box.textContent = (best.name || "unnamed") + " · " + best.cls.words;
        box.style.display = "block";
      } else {
        box.style.display = "none";
      }
    },
    _hideHover: function () {
      var box = document.getElementById("siting-road-name");
      if (box) box.style.display = "none";
    },
  });

  // ------------------------------------------------------------------ GCJ-02 overlay shift
  function mapLatLngs(lls, f) {
    if (Array.isArray(lls)) return lls.map(function (x) { return mapLatLngs(x, f); });
    return f(lls);
  }
  function shiftLeaf(layer, mode) {
    if (layer._sitingMode === mode) return;
    var toGcj = function (ll) { var g = S.wgs2gcj(ll.lat, ll.lng); return L.latLng(g[0], g[1]); };
    var same = function (ll) { return L.latLng(ll.lat, ll.lng); };
    var f = mode === "gcj" ? toGcj : same;
    if (layer.getLatLng && layer.setLatLng) {
      if (!layer._sitingWgs) layer._sitingWgs = layer.getLatLng();
      layer.setLatLng(f(layer._sitingWgs));
    } else if (layer.getLatLngs && layer.setLatLngs) {
      if (!layer._sitingWgs) layer._sitingWgs = mapLatLngs(layer.getLatLngs(), same);
      layer.setLatLngs(mapLatLngs(layer._sitingWgs, f));
    }
    layer._sitingMode = mode;
  }
  function shiftLayer(layer, mode) {
    if (layer instanceof L.MarkerClusterGroup) {
      var markers = layer.getLayers();
      layer.clearLayers();
      markers.forEach(function (m) { shiftLeaf(m, mode); });
      layer.addLayers(markers);
    } else if (layer instanceof L.LayerGroup) {
      layer.eachLayer(function (l) { shiftLayer(l, mode); });
    } else {
      shiftLeaf(layer, mode);
    }
  }
  S.setCoordinateMode = function (mode) {
    var st = S.state;
    if (!st || st.mode === mode) return;
    st.map.closePopup();
    st.overlays.forEach(function (l) { shiftLayer(l, mode); });
    st.mode = mode;
  };

  // ------------------------------------------------------------------ set up
  // map: the Leaflet map; control: its layer control; offline: the OfflineBase layer.
  // Fit the data once the title, layer control and legend are laid out: keep it clear of them.
  S.fitData = function (map, bounds) {
    if (!bounds) return;
    var pad = S.popupPadding(map);
    var legend = boxOf(".siting-legend");
    var mb = map.getContainer().getBoundingClientRect();
    var right = legend ? Math.min(mb.right - legend.left + 10, mb.width * 0.45) : 20;
    map.fitBounds(bounds, {paddingTopLeft: [20, pad[0].y], paddingBottomRight: [right, 20],
                           animate: false});
  };

  // map: the Leaflet map; control: its layer control; offline: the OfflineBase layer; bounds:
  // the data's [[south, west], [north, east]] (or null).
  S.init = function (map, control, offline, bounds) {
    var st = (S.state = {map: map, control: control, offline: offline, mode: "wgs",
                         base: null, autoSwitched: false, tileErrors: 0, tileLoads: 0});
    st.overlays = control._layers.filter(function (o) { return o.overlay; })
      .map(function (o) { return o.layer; });
    control._layers.forEach(function (o) {
      if (!o.overlay && map.hasLayer(o.layer)) st.base = o.name;
    });
    var userChose = false, switching = false;
    map.on("baselayerchange", function (e) {
      st.base = e.name;
      if (!switching) userChose = true;
      S.setCoordinateMode(e.layer.options && e.layer.options.sitingCrs === "GCJ-02" ? "gcj" : "wgs");
    });
    // the online base shown first falls back to the offline base when its tiles cannot load
    var first = control._layers.filter(function (o) {
      return !o.overlay && map.hasLayer(o.layer) && o.layer !== offline;
    })[0];
    function fallBack(why) {
      if (userChose || st.autoSwitched || !first || !map.hasLayer(first.layer)) return;
      st.autoSwitched = why;
      switching = true;
      map.removeLayer(first.layer);
      map.addLayer(offline);
      switching = false;
    }
    if (first) {
      first.layer.on("tileload", function () { st.tileLoads++; });
      first.layer.on("tileerror", function () {
        st.tileErrors++;
        if (st.tileLoads === 0) fallBack("tile errors");
      });
      if (navigator.onLine === false) fallBack("browser offline");
      setTimeout(function () { if (st.tileLoads === 0) fallBack("no tile loaded in 6 s"); }, 6000);
    }
    watchLegend(map);
    fitBoxes(map);
    S.fitData(map, bounds);
    window.addEventListener("resize", function () { fitBoxes(map); });
    return st;
  };
})();
