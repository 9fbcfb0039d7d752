# jpegdl: `make demo` (install + main job on bundled data), `make test` (install + lint + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.jpegdl-installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo "sudo -n")

.PHONY: install data fashion-mnist photos demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[test,data,plot,bench,train,robust,sparse,edic]"
	$(BIN)/pip install --quiet --no-deps "compressai>=1.2.8,<1.3"
	touch $(STAMP)

# Offline data from Debian; skipped quietly where apt is unavailable.
data: fashion-mnist photos

fashion-mnist:
	@if [ -d $(FASHION_MNIST) ]; then echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null; then \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "note: could not install dataset-fashion-mnist; pass a path or let torchvision download it"; \
	else echo "note: apt-get not found; Fashion-MNIST will need a path or a download"; fi

# Photographs for training EDIC (not needed by the tests or the demo).
photos:
	@if command -v apt-get >/dev/null && [ ! -d /usr/share/wallpapers/Altai ]; then \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq plasma-workspace-wallpapers ukui-wallpapers \
		gnome-backgrounds) >/dev/null 2>&1 \
		|| echo "note: could not install the wallpaper packages (EDIC training photos); pass --data DIR"; fi

demo: install fashion-mnist
	$(BIN)/jpegdl demo

lint: install
	$(BIN)/ruff check jpegdl tests benchmarks

test: install fashion-mnist lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/codec_fidelity.py
	$(BIN)/python benchmarks/codec_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
