import os

import numpy as np
import pytest
from PIL import Image

import keras_rin
from tests.examples import load_example

# Example runs end to end: slow (deselect with -m "not large").
pytestmark = pytest.mark.large


def test_bouncing_shapes_trains_saves_a_preset_and_pictures(tmp_path):
    example = load_example("bouncing_shapes")
    output = os.path.join(tmp_path, "my_shapes")
    model, errors = example.main(output=output, smoke=True)
    assert len(model.history.history["loss"]) == 1
    for key in ("model", "copy_last_frame"):
        assert errors[key].shape == (6,)
        assert np.all(np.isfinite(errors[key]))
    with Image.open(output + "_predictions.gif") as gif:
        assert gif.n_frames == 8
    assert os.path.isfile(output + "_predictions.png")
    loaded = keras_rin.RINVideoPredictor.from_preset(output)
    assert loaded.num_context_frames == 2
    assert loaded.count_params() == model.count_params()


def _write_videos(root, num_videos=2, num_frames=18, size=40):
    """Short mp4 files of moving shapes in Kinetics' class-folder layout."""
    av = pytest.importorskip("av")
    clips = keras_rin.data.make_bouncing_shapes(
        num_videos, num_frames=num_frames, image_size=size
    )
    for index, clip in enumerate(clips):
        folder = os.path.join(root, f"class_{index}")
        os.makedirs(folder)
        with av.open(os.path.join(folder, "video.mp4"), "w") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            for image in clip:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())


def test_kinetics_example_reads_a_video_folder_and_trains(tmp_path):
    pytest.importorskip("tensorflow")
    videos = os.path.join(tmp_path, "kinetics")
    _write_videos(videos)
    example = load_example("kinetics")
    output = os.path.join(tmp_path, "trained")
    example.BATCH_SIZE = 2
    model = example.main(video_dir=videos, output=output, smoke=True)
    assert model.num_context_frames == 5
    assert model.backbone.video_shape == (16, 64, 64, 3)
    with Image.open(output + "_predictions.gif") as gif:
        assert gif.n_frames == 16
    assert keras_rin.RINVideoPredictor.from_preset(output).count_params() == (
        model.count_params()
    )


def test_kinetics_example_needs_a_data_source():
    example = load_example("kinetics")
    with pytest.raises(ValueError, match="--video-dir"):
        example.load_clips()
