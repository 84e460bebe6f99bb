"""Networks: content generator G, style generator S, discriminator D, and the G∘S stylizer."""

from adaptive_st.models.content_generator import ContentGenerator
from adaptive_st.models.discriminator import MultiScaleDiscriminator, PatchDiscriminator
from adaptive_st.models.feature_transform import FeatureStatsStyle, FeatureTransformGenerator
from adaptive_st.models.micro import MicroGenerator, MicroStyle
from adaptive_st.models.style_generator import StyleEmbedding, StyleGenerator, StyleImageEncoder
from adaptive_st.models.stylizer import Stylizer, build_stylizer

__all__ = [
    "ContentGenerator",
    "FeatureStatsStyle",
    "FeatureTransformGenerator",
    "MicroGenerator",
    "MicroStyle",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "StyleEmbedding",
    "StyleGenerator",
    "StyleImageEncoder",
    "Stylizer",
    "build_stylizer",
]
