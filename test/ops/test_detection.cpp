// Detection operators (lib/ops/detection.cpp): hand-checked box_nms and MultiBoxPrior values,
// the cases where tandem deliberately writes zeros where MXNet's output is undefined (ROIAlign
// with an invalid batch index or an empty aligned ROI), and typed errors for bad attributes and
// shapes. The values against MXNet are in test/conformance/cases/detection.py.
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "op_test_util.hpp"

using namespace tandem;
using namespace tandem::optest;

namespace {

using Attrs = std::map<std::string, std::string>;

Symbol Op(const std::string& op, const std::vector<std::string>& inputs, const Attrs& attrs) {
  Operator b(op);
  for (const auto& [k, v] : attrs) b.SetParam(k, v);
  for (const std::string& name : inputs) b.SetInput(name, Data(name));
  return b.CreateSymbol("op");
}

}  // namespace

TEST_CASE("box_nms keeps the best box of each overlapping group, ties in input order", "[detection]") {
  // [id, score, x1, y1, x2, y2]; boxes 0 and 1 tie at 0.9 and overlap (IoU 0.81): the first
  // one wins. Box 2 overlaps box 0 but is of another class. Box 3 has an invalid score.
  const NDArray data({0, 0.9f, 0, 0, 1, 1,  //
                      0, 0.9f, 0, 0, 0.9f, 0.9f,
                      1, 0.5f, 0, 0, 1, 1,  //
                      0, -0.5f, 2, 2, 3, 3},
                     Shape{1, 4, 6});
  Symbol nms = Op("_contrib_box_nms", {"data"}, {{"id_index", "0"}, {"overlap_thresh", "0.5"}});
  NDArray out = RunReference1(nms, {}, {{"data", data}});
  CheckValues(out, {1, 4, 6},
              {0, 0.9f, 0, 0, 1, 1,  //
               1, 0.5f, 0, 0, 1, 1,  //
               -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
  // force_suppress ignores the class; out_format center converts the kept rows.
  Symbol forced = Op("_contrib_box_nms", {"data"},
                     {{"id_index", "0"}, {"force_suppress", "True"}, {"out_format", "center"}});
  CheckValues(RunReference1(forced, {}, {{"data", data}}), {1, 4, 6},
              {0, 0.9f, 0.5f, 0.5f, 1, 1,  //
               -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
}

TEST_CASE("MultiBoxPrior places sizes then ratios per cell", "[detection]") {
  Symbol prior = Op("_contrib_MultiBoxPrior", {"data"},
                    {{"sizes", "(0.5, 0.25)"}, {"ratios", "[1, 4]"}});
  NDArray out = RunReference1(prior, {}, {{"data", testing::random_input({1, 1, 1, 2})}});
  // One row, two cells (centres x = 0.25, 0.75, y = 0.5); h / w = 1 / 2.
  CheckValues(out, {1, 6, 4},
              {0.125f, 0.25f, 0.375f, 0.75f,     0.1875f, 0.375f, 0.3125f, 0.625f,
               0,      0.375f, 0.5f,   0.625f,   0.625f,  0.25f,  0.875f,  0.75f,
               0.6875f, 0.375f, 0.8125f, 0.625f, 0.5f,    0.375f, 1.0f,    0.625f});
}

TEST_CASE("ROIAlign gives zeros for an invalid batch index or an empty aligned ROI", "[detection]") {
  const NDArray data = Iota({1, 1, 4, 4}, 1);
  const NDArray rois({0, 0, 0, 2, 2,    //
                      -1, 0, 0, 2, 2,   //
                      1, 0, 0, 2, 2,    //
                      0, 1, 1, 1, 3},   // zero width
                     Shape{4, 5});
  Symbol align = Op("_contrib_ROIAlign", {"data", "rois"},
                    {{"pooled_size", "(1, 1)"}, {"spatial_scale", "1"}, {"aligned", "True"},
                     {"sample_ratio", "1"}});
  // ROI 0 aligned: [-0.5, 1.5) x [-0.5, 1.5), one sample at (0.5, 0.5): mean of 1, 2, 5, 6.
  CheckValues(RunReference1(align, {}, {{"data", data}, {"rois", rois}}), {4, 1, 1, 1},
              {3.5f, 0, 0, 0});
}

TEST_CASE("ROI operators give zeros for ROIs with non-finite or huge coordinates", "[detection]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const NDArray data = Iota({1, 1, 4, 4}, 1);
  const NDArray rois({nan, 0, 0, 2, 2,  //
                      0, nan, 0, 2, 2,  //
                      0, 0, -inf, 2, 2,  //
                      0, 0, 0, 1e30f, 2},
                     Shape{4, 5});
  const std::vector<float> zeros(4, 0.0f);
  Symbol align = Op("_contrib_ROIAlign", {"data", "rois"},
                    {{"pooled_size", "(1, 1)"}, {"spatial_scale", "1"}});
  CheckValues(RunReference1(align, {}, {{"data", data}, {"rois", rois}}), {4, 1, 1, 1}, zeros);
  Symbol pool = Op("ROIPooling", {"data", "rois"}, {{"pooled_size", "(1, 1)"}, {"spatial_scale", "1"}});
  // The last ROI is finite: clamped, it pools rows 0 to 2 and every column (max 12).
  CheckValues(RunReference1(pool, {}, {{"data", data}, {"rois", rois}}), {4, 1, 1, 1},
              {0, 0, 0, 12});
}

TEST_CASE("detection operators reject bad attributes", "[detection][errors]") {
  const auto make = [](const std::string& op, std::vector<std::string> inputs, const Attrs& a) {
    return Op(op, inputs, a);
  };
  CHECK_THROWS_AS(make("_contrib_box_nms", {"data"}, {{"in_format", "xywh"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_box_nms", {"data"}, {{"topk", "1e3"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_MultiBoxPrior", {"data"}, {{"offsets", "(0.5, 1.5)"}}),
                  FormatError);
  CHECK_THROWS_AS(make("_contrib_MultiBoxPrior", {"data"}, {{"steps", "(0.1, -1)"}}),
                  FormatError);
  CHECK_THROWS_AS(make("_contrib_MultiBoxPrior", {"data"}, {{"sizes", "()"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_MultiBoxPrior", {"data"}, {{"ratios", "(1, x)"}}), FormatError);
  CHECK_THROWS_AS(make("_contrib_MultiBoxDetection", {"cls_prob", "loc_pred", "anchor"},
                       {{"variances", "(0.1, 0.1)"}}),
                  FormatError);
  CHECK_THROWS_AS(make("_contrib_bipartite_matching", {"data"}, {}), FormatError);
  CHECK_THROWS_AS(make("ROIPooling", {"data", "rois"}, {{"spatial_scale", "0.5"}}), FormatError);
  CHECK_THROWS_AS(make("ROIPooling", {"data", "rois"},
                       {{"pooled_size", "(2, 0)"}, {"spatial_scale", "0.5"}}),
                  FormatError);
  CHECK_THROWS_AS(make("_contrib_ROIAlign", {"data", "rois"},
                       {{"pooled_size", "(2, 2)"}, {"spatial_scale", "2"}}),
                  FormatError);
  CHECK_NOTHROW(make("_contrib_MultiBoxPrior", {"data"}, {{"sizes", "0.5"}, {"steps", "[0.1,0.2]"}}));
  for (const char* alias : {"_contrib_box_non_maximum_suppression", "_npx_multibox_prior",
                            "_npx_multibox_detection", "_npx_roi_pooling"}) {
    INFO(alias);
    CHECK(FindOp(alias) != nullptr);
  }
}

TEST_CASE("detection operators reject bad shapes", "[detection][errors]") {
  Symbol nms = Op("_contrib_box_nms", {"data"}, {});
  CHECK_THROWS_AS(nms.InferShapeMap({{"data", Shape{2, 4}}}), ShapeError);  // width < 5
  CHECK_THROWS_AS(nms.InferShapeMap({{"data", Shape{6}}}), ShapeError);
  Symbol nms_id = Op("_contrib_box_nms", {"data"}, {{"id_index", "3"}});
  CHECK_THROWS_AS(nms_id.InferShapeMap({{"data", Shape{2, 6}}}), ShapeError);  // id in coords
  Symbol nms_score = Op("_contrib_box_nms", {"data"}, {{"score_index", "2"}});
  CHECK_THROWS_AS(nms_score.InferShapeMap({{"data", Shape{2, 6}}}), ShapeError);

  Symbol decode = Op("_contrib_box_decode", {"data", "anchors"}, {});
  CHECK_THROWS_AS(decode.InferShapeMap({{"data", Shape{2, 5, 3}}, {"anchors", Shape{1, 5, 4}}}),
                  ShapeError);
  CHECK_THROWS_AS(decode.InferShapeMap({{"data", Shape{2, 5, 4}}, {"anchors", Shape{1, 4, 4}}}),
                  ShapeError);

  Symbol mbd = Op("_contrib_MultiBoxDetection", {"cls_prob", "loc_pred", "anchor"}, {});
  CHECK_THROWS_AS(mbd.InferShapeMap({{"cls_prob", Shape{1, 3, 5}},
                                     {"loc_pred", Shape{1, 20}},
                                     {"anchor", Shape{1, 6, 4}}}),
                  ShapeError);
  CHECK(InferredOutput(mbd, {{"cls_prob", Shape{2, 3, 5}},
                             {"loc_pred", Shape{2, 20}},
                             {"anchor", Shape{1, 5, 4}}}) == Shape{2, 5, 6});

  Symbol psroi = Op("_contrib_ROIAlign", {"data", "rois"},
                    {{"pooled_size", "(2, 2)"}, {"spatial_scale", "1"},
                     {"position_sensitive", "True"}});
  CHECK_THROWS_AS(psroi.InferShapeMap({{"data", Shape{1, 6, 4, 4}}, {"rois", Shape{3, 5}}}),
                  ShapeError);
  CHECK(InferredOutput(psroi, {{"data", Shape{1, 8, 4, 4}}, {"rois", Shape{3, 5}}}) ==
        Shape{3, 2, 2, 2});
  Symbol pool = Op("ROIPooling", {"data", "rois"}, {{"pooled_size", "(2, 2)"}, {"spatial_scale", "1"}});
  CHECK_THROWS_AS(pool.InferShapeMap({{"data", Shape{1, 6, 4, 4}}, {"rois", Shape{3, 4}}}),
                  ShapeError);

  Symbol prior = Op("_contrib_MultiBoxPrior", {"data"}, {{"sizes", "(0.5, 0.2)"}, {"ratios", "(1, 2, 3)"}});
  CHECK(InferredOutput(prior, {{"data", Shape{4, 3, 5, 6}}}) == Shape{1, 5 * 6 * 4, 4});
}
